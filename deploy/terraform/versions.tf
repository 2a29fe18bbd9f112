terraform {
  # optional() object attributes with defaults need 1.3; preconditions 1.2.
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_iam_role_policies_exclusive appeared in 5.68.0.
      version = ">= 5.68.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0"
    }
  }
}
