# How a webhook travels from API Gateway to the Lambda forwarder: the SQS-SendMessage
# request parameters of each route and the forwarder's HOOKQ_ROUTES. The names are
# hookq's contract (src/aws/wire.ts): the route name in the "route" message attribute,
# each forwarded header in "header.<name>", its value prefixed with "=" so that a request
# without the header never makes an empty attribute, which SQS refuses.
# These locals read only variables, so the tests can evaluate them without AWS.

locals {
  routes = { for r in var.routes : r.name => r }

  # A static group, one group per header value (prefixed with the route name, so groups of
  # different routes stay apart and the id is never empty), or the route name.
  message_group_id = {
    for r in var.routes : r.name => (
      r.group_header != null ? "${r.name}:$${request.header.${lower(r.group_header)}}" :
      r.group != null ? r.group : r.name
    )
  }

  message_attributes = {
    for r in var.routes : r.name => jsonencode(merge(
      { route = { DataType = "String", StringValue = r.name } },
      {
        for h in r.forward_headers : "header.${lower(h)}" => {
          DataType    = "String"
          StringValue = "=$${request.header.${lower(h)}}"
        }
      },
    ))
  }

  # Every request parameter but QueueUrl, which comes from the queue resource.
  send_message_parameters = {
    for r in var.routes : r.name => merge(
      {
        MessageBody       = "$request.body"
        MessageGroupId    = local.message_group_id[r.name]
        MessageAttributes = local.message_attributes[r.name]
      },
      r.dedup_header == null ? {} : { MessageDeduplicationId = "$request.header.${lower(r.dedup_header)}" },
    )
  }

  # HOOKQ_ROUTES (src/aws/lambda-config.ts). Messages carry the route attribute; groups
  # matter only for messages another producer sent, so a static group still finds its route.
  forwarder_routes = [
    for r in var.routes : merge(
      { name = r.name, target = r.target },
      r.group != null && r.group != r.name ? { groups = [r.group] } : {},
    )
  ]

  forwarder_environment = merge(
    {
      HOOKQ_ROUTES            = jsonencode(local.forwarder_routes)
      HOOKQ_TIMEOUT           = "${var.request_timeout_seconds}s"
      HOOKQ_MAX_RECEIVE_COUNT = tostring(var.max_receive_count)
    },
    var.signing_secret == null ? {} : { HOOKQ_SIGNING_SECRET = var.signing_secret },
  )
}
