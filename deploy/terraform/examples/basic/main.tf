# The article's setup with hookq's forwarder: one route, POST /sqs-hook, one group per
# approval request. Build the bundle first: node deploy/build-lambda.mjs (from the
# repository root), then: terraform init && terraform apply -var target=https://...

terraform {
  required_version = ">= 1.3.0"
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "ap-northeast-1"
}

variable "target" {
  description = "The application's webhook URL."
  type        = string
}

variable "http_api_id" {
  description = "An existing HTTP API to add the route to; null creates one."
  type        = string
  default     = null
}

module "webhooks" {
  source = "../.."

  name          = "sss-webhooks"
  http_api_id   = var.http_api_id
  lambda_bundle = "${path.root}/../../../../dist/lambda/index.mjs"

  routes = [{
    name            = "approvals"
    path            = "/sqs-hook"
    target          = var.target
    group_header    = "X-Request-Id"
    forward_headers = ["content-type", "user-agent"]
  }]
}

output "webhook_urls" {
  value = module.webhooks.webhook_urls
}

output "dead_letter_queue_arn" {
  value = module.webhooks.dead_letter_queue_arn
}
