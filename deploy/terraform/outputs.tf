output "webhook_urls" {
  description = "The URL of each route, when this module created the HTTP API."
  value = var.http_api_id != null ? {} : {
    for name, r in local.routes : name => "${aws_apigatewayv2_api.this[0].api_endpoint}${r.path}"
  }
}

output "http_api_id" {
  value = local.api_id
}

output "queue_url" {
  value = aws_sqs_queue.queue.url
}

output "queue_arn" {
  value = aws_sqs_queue.queue.arn
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dlq.url
}

output "dead_letter_queue_arn" {
  description = "The --source-arn of aws sqs start-message-move-task."
  value       = aws_sqs_queue.dlq.arn
}

output "forwarder_function_name" {
  value = aws_lambda_function.forwarder.function_name
}

output "send_role_arn" {
  value = aws_iam_role.send.arn
}

output "forwarder_role_arn" {
  value = aws_iam_role.forwarder.arn
}
