# How a webhook travels from API Gateway to the Lambda forwarder: the mapping template of
# each route, which turns the request into an SQS SendMessage call, and the forwarder's
# HOOKQ_ROUTES. The names are hookq's contract (src/aws/wire.ts). The template is the one
# the CDK construct writes (deploy/cdk/send-message-template.ts explains it line by line);
# the tests render both and compare them.
#
# Safe by construction: every value from the request reaches the form-encoded SendMessage
# body only through $util.urlEncode, so no header or body can add or change a parameter.
# These locals read only variables, so a plan shows them in full.

locals {
  routes = { for r in var.routes : r.name => r }

  verify_headers = {
    github              = ["x-hub-signature-256"]
    shopify             = ["x-shopify-hmac-sha256"]
    stripe              = ["stripe-signature"]
    "standard-webhooks" = ["webhook-id", "webhook-timestamp", "webhook-signature"]
    slack               = ["x-slack-signature", "x-slack-request-timestamp"]
  }

  # forward_headers, then the headers the verify scheme reads; each once, lower-case.
  carried_headers = {
    for r in var.routes : r.name => distinct(concat(
      [for h in r.forward_headers : lower(h)],
      r.verify == null ? [] : (
        r.verify.scheme == "hmac-sha256" ? [lower(r.verify.header)] : lookup(local.verify_headers, r.verify.scheme, [])
      ),
    ))
  }

  group_dynamic = { for r in var.routes : r.name => r.group_header != null || r.group_json != null }

  # /approval/id -> $.approval.id, /items/0/id -> $.items[0].id
  group_json_path = {
    for r in var.routes : r.name => r.group_json == null ? "" : join("", concat(["$"], [
      for s in split("/", trimprefix(r.group_json, "/")) : can(regex("^[0-9]+$", s)) ? "[${s}]" : ".${s}"
    ]))
  }

  # Request headers read into template variables: $g the group, $d the dedup id, $h1.. the
  # carried headers. Header names are compared in lower case, whatever case API Gateway
  # gives them.
  captures = {
    for r in var.routes : r.name => concat(
      r.group_header != null ? [{ header = lower(r.group_header), variable = "$g" }] : [],
      r.dedup_header != null ? [{ header = lower(r.dedup_header), variable = "$d" }] : [],
      [for i, h in local.carried_headers[r.name] : { header = h, variable = "$h${i + 1}" }],
    )
  }

  template_vtl = {
    for r in var.routes : r.name => join("", concat(
      [for c in local.captures[r.name] : "#set(${c.variable}='')"],
      length(local.captures[r.name]) == 0 ? [] : concat(
        ["#foreach($n in $input.params().header.keySet())#set($k=$n.toLowerCase())"],
        [for c in local.captures[r.name] : "#if($k=='${c.header}')#set(${c.variable}=$input.params().header.get($n))#{end}"],
        ["#{end}"],
      ),
      r.group_json == null ? [] : ["#set($found=$input.path('${local.group_json_path[r.name]}'))#set($g=\"$!found\")"],
      # The group id: the route name without a value, <route>:<value> when SQS accepts it,
      # else <route>~ and the value's base64, cut to 128 characters.
      local.group_dynamic[r.name] ? [
        "#if($g=='')#set($g='${r.name}')",
        "#elseif($g.matches('[!-~]{1,${127 - length(r.name)}}'))#set($g=\"${r.name}:$g\")",
        "#{else}#set($g=\"${r.name}~$util.base64Encode($g)\")#if($g.length()>128)#set($g=$g.substring(0,128))#{end}#{end}",
      ] : [],
    ))
  }

  template_form = {
    for r in var.routes : r.name => join("&", [
      "Action=SendMessage",
      "Version=2012-11-05",
      "MessageBody=$util.urlEncode($input.body)",
      "MessageGroupId=${local.group_dynamic[r.name] ? "$util.urlEncode($g)" : urlencode(r.group != null ? r.group : r.name)}",
    ])
  }

  # A provider's delivery id when SQS accepts it; else content-based deduplication.
  template_dedup = {
    for r in var.routes : r.name => r.dedup_header == null ? "" : "#if($d.matches('[!-~]{1,128}'))&MessageDeduplicationId=$util.urlEncode($d)#{end}"
  }

  message_attributes = {
    for r in var.routes : r.name => concat(
      [
        { name = "route", type = "String", value = urlencode(r.name) },
        { name = "received-at", type = "Number", value = "$context.requestTimeEpoch" },
      ],
      # "=" before the value, so that a missing header never makes an empty attribute.
      [for i, h in local.carried_headers[r.name] : { name = "header.${h}", type = "String", value = "${urlencode("=")}$util.urlEncode($h${i + 1})" }],
    )
  }

  send_message_template = {
    for r in var.routes : r.name => join("", concat(
      [local.template_vtl[r.name], local.template_form[r.name], local.template_dedup[r.name]],
      [for i, a in local.message_attributes[r.name] : "&MessageAttribute.${i + 1}.Name=${a.name}&MessageAttribute.${i + 1}.Value.DataType=${a.type}&MessageAttribute.${i + 1}.Value.StringValue=${a.value}"],
    ))
  }

  content_types = {
    for r in var.routes : r.name => r.content_types != null ? r.content_types : (
      # API Gateway's JSONPath reads only JSON.
      r.group_json != null ? ["application/json"] : ["application/json", "application/x-www-form-urlencoded", "text/plain", "application/xml", "text/xml"]
    )
  }

  # HOOKQ_ROUTES (src/aws/lambda-config.ts). Messages carry the route attribute; groups
  # matter only for messages another producer sent, so a static group still finds its route.
  forwarder_routes = [
    for r in var.routes : merge(
      { name = r.name, target = r.target },
      r.group != null && r.group != r.name ? { groups = [r.group] } : {},
      r.verify == null ? {} : {
        verify = merge(
          { scheme = r.verify.scheme, secrets = lookup(var.verify_secrets, r.name, []) },
          r.verify.tolerance == null ? {} : { tolerance = r.verify.tolerance },
          r.verify.header == null ? {} : { header = r.verify.header },
          r.verify.encoding == null ? {} : { encoding = r.verify.encoding },
          r.verify.prefix == null ? {} : { prefix = r.verify.prefix },
        )
      },
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

  # What the provider gets back (deploy/cdk/send-message-template.ts).
  accepted_response = "{\"queued\":true,\"requestId\":\"$context.requestId\"}"
  refused_response  = "{\"error\":\"the queue did not store the webhook; send it again later\",\"requestId\":\"$context.requestId\"}"
}
