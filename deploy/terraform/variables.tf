# The same settings, with the same defaults, as the CDK construct WebhookQueue
# (deploy/cdk/webhook-queue.ts). deploy/README.md says why each default is what it is.

variable "name" {
  description = "Base name of the resources: the queue is <name>.fifo, the dead-letter queue <name>-dlq.fifo, the function and its role <name>-forwarder."
  type        = string
  default     = "hookq-webhooks"

  validation {
    # "<name>-forwarder" names the function and an IAM role: 64 characters at most.
    condition     = can(regex("^[A-Za-z0-9_-]{1,54}$", var.name))
    error_message = "name must be 1 to 54 letters, digits, \"-\" or \"_\", so that \"<name>-forwarder\" fits the 64 characters of a Lambda function or IAM role name."
  }
}

variable "routes" {
  description = <<-EOT
    The webhook endpoints. Each becomes "<method> <path>" on the REST API, delivered to
    target. The message group: group (a static id), group_header (one group per value of
    this request header) or group_json (one group per value at this JSON Pointer of the
    body, such as /approval/id); none: the route name. A value becomes "<name>:<value>",
    or is encoded when SQS would refuse it. dedup_header: a provider header used as
    MessageDeduplicationId (content-based deduplication within the group otherwise).
    forward_headers: request headers carried to the application. verify: check the
    provider's signature in the forwarder (hookq.yaml's verify section; its secrets go in
    verify_secrets). content_types: request content types taken; others get 415.
  EOT
  type = list(object({
    name            = string
    path            = string
    target          = string
    method          = optional(string, "POST")
    group           = optional(string)
    group_header    = optional(string)
    group_json      = optional(string)
    dedup_header    = optional(string)
    forward_headers = optional(list(string), ["content-type"])
    content_types   = optional(list(string))
    verify = optional(object({
      scheme    = string
      tolerance = optional(string)
      header    = optional(string)
      encoding  = optional(string)
      prefix    = optional(string)
    }))
  }))

  validation {
    condition     = length(var.routes) > 0
    error_message = "routes must list at least one route."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^[A-Za-z0-9_.-]{1,64}$", r.name))])
    error_message = "routes[*].name must be 1 to 64 letters, digits, \"-\", \"_\" and \".\"."
  }
  validation {
    condition     = length(distinct([for r in var.routes : r.name])) == length(var.routes)
    error_message = "routes[*].name must be unique."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^(/|(/[A-Za-z0-9._-]+){1,4})$", r.path))])
    error_message = "routes[*].path must be \"/\" or 1 to 4 segments of letters, digits, \".\", \"-\" and \"_\", such as /hooks/github."
  }
  validation {
    condition     = length(distinct([for r in var.routes : "${r.method} ${r.path}"])) == length(var.routes)
    error_message = "routes[*]: each method and path must be used by one route only."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^[A-Z]+$", r.method))])
    error_message = "routes[*].method must be an HTTP method such as POST."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^https?://[^/\\s]", r.target))])
    error_message = "routes[*].target must be an http:// or https:// URL."
  }
  validation {
    condition     = alltrue([for r in var.routes : length(compact([r.group, r.group_header, r.group_json])) <= 1])
    error_message = "routes[*]: set at most one of group, group_header and group_json."
  }
  validation {
    condition     = alltrue([for r in var.routes : r.group == null || can(regex("^[!-~]{1,128}$", r.group))])
    error_message = "routes[*].group must be 1 to 128 letters, digits and ASCII punctuation, as SQS requires."
  }
  validation {
    condition     = alltrue([for r in var.routes : r.group_json == null || can(regex("^(/([A-Za-z_][A-Za-z0-9_]*|0|[1-9][0-9]*))+$", r.group_json))])
    error_message = "routes[*].group_json must be a JSON Pointer of object keys (letters, digits, \"_\") and array indexes, such as /approval/id."
  }
  validation {
    condition = alltrue(flatten([for r in var.routes : [
      for h in concat(r.forward_headers, compact([r.group_header, r.dedup_header, try(r.verify.header, null)])) :
      can(regex("^[a-z0-9][a-z0-9_-]*$", lower(h)))
    ]]))
    error_message = "routes[*]: header names must be letters, digits, \"-\" and \"_\"."
  }
  validation {
    condition = alltrue([for r in var.routes : length(distinct(concat(
      [for h in r.forward_headers : lower(h)],
      r.verify == null ? [] : lookup({
        github              = ["x-hub-signature-256"]
        shopify             = ["x-shopify-hmac-sha256"]
        stripe              = ["stripe-signature"]
        "standard-webhooks" = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        slack               = ["x-slack-signature", "x-slack-request-timestamp"]
        "hmac-sha256"       = r.verify.header == null ? [] : [lower(r.verify.header)]
      }, r.verify.scheme, [])
    ))) <= 8])
    error_message = "routes[*]: forward_headers and the headers of verify carry at most 8 headers, as SQS allows 10 message attributes and two are the route and the receive time."
  }
  validation {
    condition     = alltrue(flatten([for r in var.routes : [for t in(r.content_types == null ? [] : r.content_types) : can(regex("^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$", t))]]))
    error_message = "routes[*].content_types must be media types such as application/json."
  }
  validation {
    condition     = alltrue([for r in var.routes : r.verify == null || contains(["github", "stripe", "standard-webhooks", "shopify", "slack", "hmac-sha256"], try(r.verify.scheme, ""))])
    error_message = "routes[*].verify.scheme must be one of github, stripe, standard-webhooks, shopify, slack, hmac-sha256."
  }
  validation {
    condition     = alltrue([for r in var.routes : r.verify == null || try(r.verify.scheme, "") != "hmac-sha256" || try(r.verify.header, null) != null])
    error_message = "routes[*].verify.header is required for scheme hmac-sha256: the header carrying the signature."
  }
  validation {
    condition     = alltrue([for r in var.routes : try(r.verify.tolerance, null) == null || can(regex("^[0-9]+(ms|s|m|h|d)$", try(r.verify.tolerance, "")))])
    error_message = "routes[*].verify.tolerance must be a duration such as 5m or 300s."
  }
}

variable "verify_secrets" {
  description = "The secrets of each route with verify, by route name: a list, so that secrets can be rotated. Stored in the function's environment."
  type        = map(list(string))
  default     = {}
  sensitive   = true
}

variable "rest_api_id" {
  description = "Add the routes to this existing REST API (give rest_api_root_resource_id too; its deployment and stage are yours). null: create a regional REST API with a throttled stage."
  type        = string
  default     = null
}

variable "rest_api_root_resource_id" {
  description = "The root resource id of rest_api_id."
  type        = string
  default     = null
}

variable "stage_name" {
  description = "Stage of the new REST API; the webhook URLs are https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>."
  type        = string
  default     = "webhooks"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name must be letters, digits, \"-\" and \"_\"."
  }
}

variable "throttling_rate_limit" {
  description = "Steady requests per second the new API's stage accepts; more are answered 429."
  type        = number
  default     = 50

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be above 0."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests the new API's stage accepts."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_burst_limit >= 1 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number of at least 1."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden; also the delay before a retry. AWS recommends at least 6 times the Lambda timeout."
  type        = number
  default     = 180

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be from 0 to 43200 (SQS limit)."
  }
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the dead-letter queue (hookq's retry.maxAttempts)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "retention_seconds" {
  description = "How long the queue keeps a message (4 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.retention_seconds >= 60 && var.retention_seconds <= 1209600
    error_message = "retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "dlq_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (4 days, as in the article)."
  type        = number
  default     = 345600

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "lambda_timeout_seconds" {
  description = "The forwarder's timeout. At most visibility_timeout_seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be from 1 to 900 (Lambda limit)."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the forwarder, in MB."
  type        = number
  default     = 256
}

variable "lambda_runtime" {
  description = "Node.js runtime of the forwarder; the bundle targets Node.js 20 and later."
  type        = string
  default     = "nodejs22.x"
}

variable "lambda_architecture" {
  description = "arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "lambda_zip" {
  description = "Path of the zipped forwarder, dist/hookq-forwarder.zip (node deploy/build-lambda.mjs)."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip, ".zip")
    error_message = "lambda_zip must be the path of the zip built by deploy/build-lambda.mjs (dist/hookq-forwarder.zip)."
  }
}

variable "request_timeout_seconds" {
  description = "Timeout of one request to the application. At least 1 second less than lambda_timeout_seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 900
    error_message = "request_timeout_seconds must be from 1 to 900."
  }
}

variable "batch_size" {
  description = "Records per invocation (10 at most for a FIFO queue)."
  type        = number
  default     = 1

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10 (the most an SQS FIFO event source takes)."
  }
}

variable "max_concurrency" {
  description = "Maximum concurrent invocations by the event source mapping."
  type        = number
  default     = 5

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number from 2 to 1000 (Lambda maximum concurrency range)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the function, at least max_concurrency. null: max_concurrency; -1: none (an account whose concurrency quota leaves nothing to reserve)."
  type        = number
  default     = null
}

variable "signing_secret" {
  description = "Sign forwarded requests (Standard Webhooks) with this whsec_ secret. Stored in the function's environment."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.signing_secret == null || can(regex("^whsec_[A-Za-z0-9+/]+=*$", var.signing_secret))
    error_message = "signing_secret must be a Standard Webhooks secret: \"whsec_\" followed by base64."
  }
}

variable "log_retention_days" {
  description = "Retention of the forwarder's log group."
  type        = number
  default     = 30
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). null: alarms without actions."
  type        = string
  default     = null
}

variable "oldest_message_age_alarm_seconds" {
  description = "The queue's oldest message older than this raises an alarm."
  type        = number
  default     = 600

  validation {
    condition     = var.oldest_message_age_alarm_seconds >= 60
    error_message = "oldest_message_age_alarm_seconds must be at least 60."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
