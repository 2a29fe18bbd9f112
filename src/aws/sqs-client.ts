/**
 * The one SQS call the forwarder makes itself: ChangeMessageVisibility, to put a message
 * that failed signature verification back in the queue at once, so that SQS moves it to
 * the dead-letter queue after maxReceiveCount quick receives instead of holding its group
 * for maxReceiveCount visibility timeouts. The event source mapping does everything else.
 *
 * It is a signed (AWS Signature Version 4) request of SQS's query protocol, made with the
 * credentials Lambda puts in the function's environment: a few lines, where the AWS SDK
 * would be a large dependency of the bundle or a runtime-provided module whose version
 * the function does not choose. The role already allows sqs:ChangeMessageVisibility on
 * the queue: the event source mapping needs it.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** The credentials Lambda gives the function, or undefined outside Lambda. */
export function credentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

export interface QueueAddress {
  region: string;
  /** https://sqs.<region>.amazonaws.com/<account>/<name> */
  url: string;
}

/** The queue URL of an SQS queue ARN (`arn:aws:sqs:us-east-2:123456789012:name.fifo`). */
export function queueAddress(arn: string): QueueAddress | undefined {
  const match = /^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,80})$/.exec(arn);
  if (!match) return undefined;
  const [, partition, region, account, name] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  const domain = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return { region, url: `https://sqs.${region}.${domain}/${account}/${name}` };
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) =>
  createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 percent-encoding, as Signature Version 4 wants it in paths and queries. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export interface SignInput {
  method: string;
  url: URL;
  /** Every header to sign, host and x-amz-date included; names in any case. */
  headers: Record<string, string>;
  body: string;
  region: string;
  service: string;
  credentials: AwsCredentials;
  /** `YYYYMMDD'T'HHMMSS'Z'`, the x-amz-date header's value. */
  amzDate: string;
}

/** The Authorization header of a Signature Version 4 request. */
export function signV4(input: SignInput): string {
  const headers = Object.entries(input.headers)
    .map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([name]) => name).join(';');
  const path =
    input.url.pathname
      .split('/')
      .map((segment) => uriEncode(decodeURIComponent(segment)))
      .join('/') || '/';
  const query = [...input.url.searchParams.entries()]
    .map(([key, value]) => [uriEncode(key), uriEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    input.method,
    path,
    query,
    ...headers.map(([name, value]) => `${name}:${value}`),
    '',
    signedHeaders,
    sha256Hex(input.body),
  ].join('\n');
  const date = input.amzDate.slice(0, 8);
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', input.amzDate, scope, sha256Hex(canonicalRequest)].join(
    '\n',
  );
  let key = hmac(`AWS4${input.credentials.secretAccessKey}`, date);
  for (const part of [input.region, input.service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

/** `20150830T123600Z` */
export function amzDate(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

export interface ChangeVisibilityInput {
  queueArn: string;
  receiptHandle: string;
  visibilityTimeoutSeconds: number;
  credentials: AwsCredentials;
  /** Send to this base URL instead of SQS's (tests); the queue's path is kept. */
  endpoint?: string;
  now?: () => number;
  timeoutMs?: number;
}

/** SQS ChangeMessageVisibility; throws with SQS's answer when it is refused. */
export async function changeMessageVisibility(input: ChangeVisibilityInput): Promise<void> {
  const address = queueAddress(input.queueArn);
  if (address === undefined) throw new Error(`not an SQS queue ARN: ${input.queueArn}`);
  const queueUrl = new URL(address.url);
  const url = input.endpoint === undefined ? queueUrl : new URL(queueUrl.pathname, input.endpoint);
  const body = new URLSearchParams({
    Action: 'ChangeMessageVisibility',
    ReceiptHandle: input.receiptHandle,
    VisibilityTimeout: String(input.visibilityTimeoutSeconds),
    Version: '2012-11-05',
  }).toString();
  const date = amzDate((input.now ?? Date.now)());
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    host: url.host,
    'x-amz-date': date,
  };
  if (input.credentials.sessionToken) {
    headers['x-amz-security-token'] = input.credentials.sessionToken;
  }
  headers.authorization = signV4({
    method: 'POST',
    url,
    headers,
    body,
    region: address.region,
    service: 'sqs',
    credentials: input.credentials,
    amzDate: date,
  });
  const { host: _host, ...sent } = headers;
  const response = await fetch(url, {
    method: 'POST',
    headers: sent,
    body,
    signal: AbortSignal.timeout(input.timeoutMs ?? 3_000),
  });
  const text = await response.text();
  if (!response.ok) {
    const code = /<Code>([^<]{1,200})<\/Code>/.exec(text)?.[1];
    throw new Error(
      `SQS ChangeMessageVisibility answered ${response.status}${code ? ` ${code}` : ''}`,
    );
  }
}
