# The same settings, with the same defaults, as the CDK construct WebhookQueue
# (deploy/cdk/webhook-queue.ts). deploy/README.md says where they differ from the article.

variable "name" {
  description = "Base name of the resources: the queue is <name>.fifo, the dead-letter queue <name>-dlq.fifo, the function <name>-forwarder."
  type        = string
  default     = "hookq-webhooks"

  validation {
    # 80 characters at most for a queue name, less ".fifo" and "-dlq".
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 letters, digits, \"-\" or \"_\"."
  }
}

variable "routes" {
  description = <<-EOT
    The webhook endpoints. Each becomes "<method> <path>" on the HTTP API, delivered to
    target. group: a static message group id; group_header: one group per value of this
    request header (the id is "<name>:<value>"); neither: the route name. dedup_header: a
    provider header used as MessageDeduplicationId (only if the provider always sends it).
    forward_headers: request headers carried to the application (at most 9).
  EOT
  type = list(object({
    name            = string
    path            = string
    target          = string
    method          = optional(string, "POST")
    group           = optional(string)
    group_header    = optional(string)
    dedup_header    = optional(string)
    forward_headers = optional(list(string), ["content-type"])
  }))

  validation {
    condition     = length(var.routes) > 0
    error_message = "routes must list at least one route."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^[A-Za-z0-9_.-]+$", r.name))])
    error_message = "routes[*].name must be made of letters, digits, \"-\", \"_\" and \".\"."
  }
  validation {
    condition     = length(distinct([for r in var.routes : r.name])) == length(var.routes)
    error_message = "routes[*].name must be unique."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^/[^\\s?#]*$", r.path))])
    error_message = "routes[*].path must start with \"/\" and hold no spaces, \"?\" or \"#\"."
  }
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^https?://", r.target))])
    error_message = "routes[*].target must be an http:// or https:// URL."
  }
  validation {
    condition     = alltrue([for r in var.routes : !(r.group != null && r.group_header != null)])
    error_message = "routes[*]: set group or group_header, not both."
  }
  validation {
    condition     = alltrue([for r in var.routes : r.group == null || can(regex("^[!-~]{1,128}$", r.group))])
    error_message = "routes[*].group must be 1 to 128 visible ASCII characters, as SQS requires."
  }
  validation {
    condition     = alltrue([for r in var.routes : length(r.forward_headers) <= 9])
    error_message = "routes[*].forward_headers: at most 9 headers fit, as SQS allows 10 message attributes and one is the route."
  }
  validation {
    condition = alltrue(flatten([for r in var.routes : [
      for h in concat(r.forward_headers, compact([r.group_header, r.dedup_header])) :
      can(regex("^[a-z0-9][a-z0-9_-]*$", lower(h)))
    ]]))
    error_message = "routes[*]: header names must be letters, digits, \"-\" and \"_\"."
  }
}

variable "http_api_id" {
  description = "Add the routes to this existing HTTP API (its stage must deploy them). null: create an HTTP API with an auto-deployed $default stage."
  type        = string
  default     = null
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

variable "lambda_bundle" {
  description = "Path of the bundled forwarder, dist/lambda/index.mjs (node deploy/build-lambda.mjs)."
  type        = string

  validation {
    condition     = endswith(var.lambda_bundle, "index.mjs")
    error_message = "lambda_bundle must be the path of index.mjs built by deploy/build-lambda.mjs (the handler is index.handler)."
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

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
