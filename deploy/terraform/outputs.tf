output "webhook_urls" {
  description = "The URL of each route, when this module created the REST API."
  value = local.new_api ? {
    for name, r in local.routes : name => "${aws_api_gateway_stage.this[0].invoke_url}${r.path == "/" ? "/" : r.path}"
  } : {}
}

output "rest_api_id" {
  value = local.rest_api_id
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

output "alarm_arns" {
  value = {
    dead_letters       = aws_cloudwatch_metric_alarm.dead_letters.arn
    oldest_message_age = aws_cloudwatch_metric_alarm.oldest_message_age.arn
    errors             = aws_cloudwatch_metric_alarm.errors.arn
    throttles          = aws_cloudwatch_metric_alarm.throttles.arn
  }
}
