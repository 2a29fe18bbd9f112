terraform {
  # check blocks need 1.5; optional() object attributes with defaults 1.3.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_iam_role_policies_exclusive appeared in 5.68.0.
      version = ">= 5.68.0"
    }
  }
}
