# The article's setup with hookq's forwarder: one route, POST /sqs-hook, one group per
# approval (read from the body), so that the events of one approval stay in order and
# different approvals proceed in parallel. Build the bundle first, from the repository
# root: node deploy/build-lambda.mjs; then: terraform init && terraform apply -var target=https://...

terraform {
  required_version = ">= 1.5.0"
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

variable "alarm_topic_arn" {
  description = "An SNS topic for the alarms; null: alarms without actions."
  type        = string
  default     = null
}

module "webhooks" {
  source = "../.."

  name            = "sss-webhooks"
  lambda_zip      = "${path.root}/../../../../dist/hookq-forwarder.zip"
  alarm_topic_arn = var.alarm_topic_arn

  routes = [{
    name            = "approvals"
    path            = "/sqs-hook"
    target          = var.target
    group_json      = "/approval/id"
    forward_headers = ["content-type", "user-agent"]
  }]
}

output "webhook_urls" {
  value = module.webhooks.webhook_urls
}

output "dead_letter_queue_arn" {
  value = module.webhooks.dead_letter_queue_arn
}
