# hookq's design on AWS (deploy/README.md):
#   provider -> REST API method -> SQS SendMessage (send-only role) -> FIFO queue
#   FIFO queue -> event source mapping -> Lambda forwarder (receive-only role) -> application
#   after max_receive_count failed receives, SQS moves a message to the FIFO dead-letter queue.

locals {
  new_api          = var.rest_api_id == null
  rest_api_id      = local.new_api ? aws_api_gateway_rest_api.this[0].id : var.rest_api_id
  root_resource_id = local.new_api ? aws_api_gateway_rest_api.this[0].root_resource_id : var.rest_api_root_resource_id

  # arn:<partition>:sqs:<region>:<account>:<name>
  queue_arn_parts = split(":", aws_sqs_queue.queue.arn)

  alarm_actions        = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  reserved_concurrency = var.reserved_concurrency == null ? var.max_concurrency : var.reserved_concurrency
}

# --- Queues ------------------------------------------------------------------------------

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = var.tags

  # The dead letters are the one copy of webhooks that could not be delivered: neither
  # terraform destroy nor a change of name (which replaces the queue) may delete them.
  # Terraform does not allow a variable here; deploy/README.md says how to let it go.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_sqs_queue" "queue" {
  name                        = "${var.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  # Deduplicate within a message group only: an identical body in another group (or
  # route) is another webhook. SQS's high-throughput mode: both settings together.
  deduplication_scope        = "messageGroup"
  fifo_throughput_limit      = "perMessageGroupId"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.retention_seconds
  sqs_managed_sse_enabled    = true
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

# --- Ingress: REST API methods that send to the queue -------------------------------------

resource "aws_api_gateway_rest_api" "this" {
  count       = local.new_api ? 1 : 0
  name        = "${var.name}-api"
  description = "Webhook ingress of hookq: each route sends to an SQS FIFO queue"
  tags        = var.tags

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

# The resources of the route paths, one level at a time (a resource names its parent).
locals {
  route_segments = { for r in var.routes : r.name => r.path == "/" ? [] : split("/", trimprefix(r.path, "/")) }
  path_prefixes = distinct(flatten([
    for segments in values(local.route_segments) : [for i in range(length(segments)) : join("/", slice(segments, 0, i + 1))]
  ]))
  paths_at_depth = [for depth in [1, 2, 3, 4] : toset([for p in local.path_prefixes : p if length(split("/", p)) == depth])]
}

resource "aws_api_gateway_resource" "depth1" {
  for_each    = local.paths_at_depth[0]
  rest_api_id = local.rest_api_id
  parent_id   = local.root_resource_id
  path_part   = each.key
}

resource "aws_api_gateway_resource" "depth2" {
  for_each    = local.paths_at_depth[1]
  rest_api_id = local.rest_api_id
  parent_id   = aws_api_gateway_resource.depth1[join("/", slice(split("/", each.key), 0, 1))].id
  path_part   = split("/", each.key)[1]
}

resource "aws_api_gateway_resource" "depth3" {
  for_each    = local.paths_at_depth[2]
  rest_api_id = local.rest_api_id
  parent_id   = aws_api_gateway_resource.depth2[join("/", slice(split("/", each.key), 0, 2))].id
  path_part   = split("/", each.key)[2]
}

resource "aws_api_gateway_resource" "depth4" {
  for_each    = local.paths_at_depth[3]
  rest_api_id = local.rest_api_id
  parent_id   = aws_api_gateway_resource.depth3[join("/", slice(split("/", each.key), 0, 3))].id
  path_part   = split("/", each.key)[3]
}

locals {
  resource_ids = merge(
    { "" = local.root_resource_id },
    { for p, r in aws_api_gateway_resource.depth1 : p => r.id },
    { for p, r in aws_api_gateway_resource.depth2 : p => r.id },
    { for p, r in aws_api_gateway_resource.depth3 : p => r.id },
    { for p, r in aws_api_gateway_resource.depth4 : p => r.id },
  )
  route_resource_id = { for name, segments in local.route_segments : name => local.resource_ids[join("/", segments)] }
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

resource "aws_api_gateway_method" "route" {
  for_each      = local.routes
  rest_api_id   = local.rest_api_id
  resource_id   = local.route_resource_id[each.key]
  http_method   = each.value.method
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "route" {
  for_each                = local.routes
  rest_api_id             = local.rest_api_id
  resource_id             = aws_api_gateway_method.route[each.key].resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.queue_arn_parts[1]}:apigateway:${local.queue_arn_parts[3]}:sqs:path/${local.queue_arn_parts[4]}/${aws_sqs_queue.queue.name}"
  credentials             = aws_iam_role.send.arn
  # Never pass a body through unmapped: it would reach SQS as the form itself.
  passthrough_behavior = "NEVER"
  request_parameters = {
    "integration.request.header.Content-Type" = "'application/x-www-form-urlencoded'"
  }
  request_templates = { for type in local.content_types[each.key] : type => local.send_message_template[each.key] }
}

locals {
  # Each route answers 200 once SQS stored the message, 503 when SQS refused or failed.
  route_responses = {
    for pair in setproduct(keys(local.routes), ["200", "503"]) : "${pair[0]} ${pair[1]}" => { route = pair[0], status = pair[1] }
  }
}

resource "aws_api_gateway_method_response" "route" {
  for_each            = local.route_responses
  rest_api_id         = local.rest_api_id
  resource_id         = aws_api_gateway_method.route[each.value.route].resource_id
  http_method         = aws_api_gateway_method.route[each.value.route].http_method
  status_code         = each.value.status
  response_parameters = each.value.status == "503" ? { "method.response.header.Retry-After" = true } : {}
}

resource "aws_api_gateway_integration_response" "route" {
  for_each    = local.route_responses
  rest_api_id = local.rest_api_id
  resource_id = aws_api_gateway_method.route[each.value.route].resource_id
  http_method = aws_api_gateway_method.route[each.value.route].http_method
  status_code = aws_api_gateway_method_response.route[each.key].status_code
  # Matched against SQS's HTTP status; the 200 response is the default.
  selection_pattern   = each.value.status == "503" ? "[45]\\d{2}" : null
  response_parameters = each.value.status == "503" ? { "method.response.header.Retry-After" = "'30'" } : {}
  response_templates = {
    "application/json" = each.value.status == "503" ? local.refused_response : local.accepted_response
  }

  depends_on = [aws_api_gateway_integration.route]
}

resource "aws_api_gateway_deployment" "this" {
  count       = local.new_api ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.this[0].id

  # A new deployment whenever a route or its template changes.
  triggers = {
    redeployment = sha1(jsonencode([
      local.send_message_template,
      local.content_types,
      [for r in var.routes : [r.name, r.path, r.method]],
      [for k, i in aws_api_gateway_integration.route : i.id],
      [for k, i in aws_api_gateway_integration_response.route : i.id],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [
    aws_api_gateway_method.route,
    aws_api_gateway_integration.route,
    aws_api_gateway_method_response.route,
    aws_api_gateway_integration_response.route,
  ]
}

resource "aws_api_gateway_stage" "this" {
  count         = local.new_api ? 1 : 0
  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  deployment_id = aws_api_gateway_deployment.this[0].id
  stage_name    = var.stage_name
  tags          = var.tags
}

# The routes have no authorizer: a throttled stage bounds what anyone can enqueue.
resource "aws_api_gateway_method_settings" "throttling" {
  count       = local.new_api ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.this[0].id
  stage_name  = aws_api_gateway_stage.this[0].stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }
}

# --- Delivery: the Lambda forwarder -------------------------------------------------------

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
  function_name                  = "${var.name}-forwarder"
  description                    = "hookq forwarder: delivers webhooks from the FIFO queue, in order"
  role                           = aws_iam_role.forwarder.arn
  runtime                        = var.lambda_runtime
  architectures                  = [var.lambda_architecture]
  handler                        = "index.handler"
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  timeout                        = var.lambda_timeout_seconds
  memory_size                    = var.lambda_memory_size
  reserved_concurrent_executions = local.reserved_concurrency

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
    precondition {
      condition     = local.reserved_concurrency == -1 || (local.reserved_concurrency >= var.max_concurrency && floor(local.reserved_concurrency) == local.reserved_concurrency)
      error_message = "reserved_concurrency must be at least max_concurrency, so that the event source mapping is never throttled (or -1 for none)."
    }
    precondition {
      condition     = (var.rest_api_id == null) == (var.rest_api_root_resource_id == null)
      error_message = "rest_api_id and rest_api_root_resource_id go together: give both to use an existing REST API, or neither."
    }
    precondition {
      condition     = alltrue([for r in var.routes : r.verify == null || length(lookup(var.verify_secrets, r.name, [])) > 0])
      error_message = "verify_secrets must hold at least one secret for each route with verify, by route name."
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

# AWS recommends it for SQS event sources; a warning, as the CDK construct gives.
check "visibility_timeout_for_retries" {
  assert {
    condition     = var.visibility_timeout_seconds >= 6 * var.lambda_timeout_seconds
    error_message = "visibility_timeout_seconds (${var.visibility_timeout_seconds}) is less than 6 times lambda_timeout_seconds (${var.lambda_timeout_seconds}), as AWS recommends for SQS event sources: a throttled batch may become visible again while Lambda still retries it."
  }
}

# --- Alarms --------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "hookq: the dead-letter queue holds messages. Look at the forwarder log for the reason, fix it, then redrive (deploy/README.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  alarm_name          = "${var.name}-oldest-message-age"
  alarm_description   = "hookq: a webhook has waited in the queue longer than expected: the application fails or is slow, or the forwarder is held up."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.queue.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.oldest_message_age_alarm_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-forwarder-errors"
  alarm_description   = "hookq: the forwarder failed whole invocations (a configuration error, a malformed event or a timeout); failed deliveries are not errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.forwarder.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-forwarder-throttles"
  alarm_description   = "hookq: Lambda throttled the forwarder; raise its reserved concurrency or lower the mapping maximum concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.forwarder.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
