# hookq's design on AWS (deploy/README.md):
#   provider -> HTTP API route -> SQS-SendMessage (send-only role) -> FIFO queue
#   FIFO queue -> event source mapping -> Lambda forwarder (receive-only role) -> application
#   after max_receive_count failed receives, SQS moves a message to the FIFO dead-letter queue.

locals {
  api_id = var.http_api_id != null ? var.http_api_id : aws_apigatewayv2_api.this[0].id
}

# --- Queues ------------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "queue" {
  name                        = "${var.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  visibility_timeout_seconds  = var.visibility_timeout_seconds
  message_retention_seconds   = var.retention_seconds
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Both queues refuse requests not made over TLS.
resource "aws_sqs_queue_policy" "tls_only" {
  for_each  = { queue = aws_sqs_queue.queue, dlq = aws_sqs_queue.dlq }
  queue_url = each.value.url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "sqs:*"
      Resource  = each.value.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# --- Ingress: HTTP API routes that send to the queue --------------------------------------

resource "aws_apigatewayv2_api" "this" {
  count         = var.http_api_id == null ? 1 : 0
  name          = "${var.name}-api"
  description   = "Webhook ingress of hookq: each route sends to an SQS FIFO queue"
  protocol_type = "HTTP"
  tags          = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  count       = var.http_api_id == null ? 1 : 0
  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags
}

data "aws_iam_policy_document" "apigateway_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "send" {
  name               = "${var.name}-send"
  description        = "API Gateway sends webhooks to the hookq queue (send only)"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "send_only" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue.arn]
  }
}

resource "aws_iam_role_policy" "send_only" {
  name   = "send-only"
  role   = aws_iam_role.send.id
  policy = data.aws_iam_policy_document.send_only.json
}

resource "aws_iam_role_policies_exclusive" "send" {
  role_name    = aws_iam_role.send.name
  policy_names = [aws_iam_role_policy.send_only.name]
}

resource "aws_apigatewayv2_integration" "route" {
  for_each               = local.routes
  api_id                 = local.api_id
  description            = "hookq route ${each.key}: send to the webhook queue"
  integration_type       = "AWS_PROXY"
  integration_subtype    = "SQS-SendMessage"
  payload_format_version = "1.0"
  credentials_arn        = aws_iam_role.send.arn
  request_parameters = merge(
    { QueueUrl = aws_sqs_queue.queue.url },
    local.send_message_parameters[each.key],
  )
}

resource "aws_apigatewayv2_route" "route" {
  for_each  = local.routes
  api_id    = local.api_id
  route_key = "${each.value.method} ${each.value.path}"
  target    = "integrations/${aws_apigatewayv2_integration.route[each.key].id}"
}

# --- Delivery: the Lambda forwarder -------------------------------------------------------

data "archive_file" "forwarder" {
  type        = "zip"
  source_file = var.lambda_bundle
  output_path = "${path.root}/.terraform/hookq/${var.name}-forwarder.zip"
}

resource "aws_cloudwatch_log_group" "forwarder" {
  name              = "/aws/lambda/${var.name}-forwarder"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  name               = "${var.name}-forwarder"
  description        = "hookq Lambda forwarder: receive from the webhook queue, write its logs"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "receive_only" {
  statement {
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.queue.arn]
  }
}

resource "aws_iam_role_policy" "receive_only" {
  name   = "receive-only"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.receive_only.json
}

data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.forwarder.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_iam_role_policies_exclusive" "forwarder" {
  role_name    = aws_iam_role.forwarder.name
  policy_names = [aws_iam_role_policy.receive_only.name, aws_iam_role_policy.logs.name]
}

resource "aws_lambda_function" "forwarder" {
  function_name    = "${var.name}-forwarder"
  description      = "hookq forwarder: delivers webhooks from the FIFO queue, in order"
  role             = aws_iam_role.forwarder.arn
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  handler          = "index.handler"
  filename         = data.archive_file.forwarder.output_path
  source_code_hash = data.archive_file.forwarder.output_base64sha256
  timeout          = var.lambda_timeout_seconds
  memory_size      = var.lambda_memory_size

  environment {
    variables = local.forwarder_environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.forwarder.name
  }

  tags = var.tags

  # The event source mapping needs the queue permissions when it is created.
  depends_on = [aws_iam_role_policy.receive_only, aws_iam_role_policy.logs]

  lifecycle {
    precondition {
      condition     = var.lambda_timeout_seconds <= var.visibility_timeout_seconds
      error_message = "lambda_timeout_seconds must not exceed visibility_timeout_seconds: Lambda refuses such an event source, and a message could be received again while its first delivery still runs."
    }
    precondition {
      condition     = var.request_timeout_seconds + 1 <= var.lambda_timeout_seconds
      error_message = "request_timeout_seconds must be at least 1 second shorter than lambda_timeout_seconds, so a hanging request ends before the function does."
    }
  }
}

resource "aws_lambda_event_source_mapping" "forwarder" {
  event_source_arn        = aws_sqs_queue.queue.arn
  function_name           = aws_lambda_function.forwarder.arn
  batch_size              = var.batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.max_concurrency
  }
}
