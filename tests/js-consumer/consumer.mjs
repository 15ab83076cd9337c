// A consumer of vegas through the AWS SDK for JavaScript v3, as any Node
// program would be: the credentials come from the shared config, whose
// credential_process runs vegas, and STS GetCallerIdentity shows who we are.
// tests/consumers_e2e.rs runs it in a test world:
//
//   node consumer.mjs PROFILE ENDPOINT_URL ini|process   prints the caller's ARN
//   node consumer.mjs - ENDPOINT_URL default             the SDK's default chain
//     (tests/serve_e2e.rs: the container provider, from the environment alone)
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromIni, fromProcess } from "@aws-sdk/credential-providers";

const [profile, endpoint, provider] = process.argv.slice(2);
if (!profile || !endpoint || !["ini", "process", "default"].includes(provider)) {
  console.error("usage: node consumer.mjs PROFILE|- ENDPOINT_URL ini|process|default");
  process.exit(2);
}
const credentials =
  provider === "default" ? undefined : provider === "ini" ? fromIni({ profile }) : fromProcess({ profile });
const client = new STSClient({ region: "eu-west-1", endpoint, credentials });
const identity = await client.send(new GetCallerIdentityCommand({}));
console.log(identity.Arn);
