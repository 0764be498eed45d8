import Foundation
import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

@Suite("The AWS credential chain: environment, answers, renewal")
struct S3CredentialChainUnitTests {
  @Test("the environment sets the chain up as the SDKs read it; empty variables are unset")
  func environment() {
    let c = S3CredentialChain(
      environment: [
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
        "AWS_REGION": "eu-west-1", "AWS_PROFILE": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[fd00:ec2::254]/", "AWS_EC2_METADATA_DISABLED": "TRUE",
      ], region: "us-east-1", home: "/home/u")
    #expect(c.webIdentityTokenFile == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
    #expect(c.roleARN == "arn:aws:iam::1:role/r")
    #expect(c.stsEndpoint == "https://sts.eu-west-1.amazonaws.com")
    #expect(c.profile == "default")
    #expect(c.sharedCredentialsFile == "/home/u/.aws/credentials")
    #expect(c.configFile == "/home/u/.aws/config")
    #expect(c.containerURI == "http://169.254.170.2/v2/credentials/x")
    #expect(c.imdsEndpoint == "http://[fd00:ec2::254]")
    #expect(c.imdsDisabled)
    let sts = S3CredentialChain(environment: ["AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_STS": "http://b:2"], region: "x", home: nil)
    #expect(sts.stsEndpoint == "http://b:2")
    #expect(sts.sharedCredentialsFile == nil && sts.imdsEndpoint == "http://169.254.169.254" && !sts.imdsDisabled)
  }

  @Test("container URIs: https anywhere, plain http only to loopback and the ECS/EKS agents")
  func containerURIs() {
    for ok in ["https://creds.example/x", "http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.170.2/v2", "http://169.254.170.23/v1"] {
      #expect(S3CredentialChain.containerURIProblem(ok) == nil, "\(ok)")
    }
    for bad in ["http://creds.example/x", "ftp://127.0.0.1/x", "not a url"] {
      #expect(S3CredentialChain.containerURIProblem(bad) != nil, "\(bad)")
    }
  }

  @Test("STS, container and IMDS answers are read; an error or a document without keys is refused")
  func answers() throws {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let sts = Array(
      """
      <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>\
      <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey><SessionToken>tok</SessionToken>\
      <Expiration>2027-01-15T08:00:00.123456Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>
      """.utf8)
    let t = try S3CredentialResponses.stsCredentials(sts, obtained: now, source: "web identity")
    #expect(t.credentials == S3Credentials(accessKeyID: "ASIAX", secretAccessKey: "s3cr3t", sessionToken: "tok"))
    #expect(abs((t.expiration?.timeIntervalSince1970 ?? 0) - 1_800_000_000.123456) < 0.001, "fractional seconds are read")
    let error = Array("<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>no</Message></Error></ErrorResponse>".utf8)
    #expect(S3CredentialResponses.stsError(error)?.code == "InvalidIdentityToken")
    let json = Array(#"{"Code":"Success","AccessKeyId":"ASIAY","SecretAccessKey":"k","Token":"t","Expiration":"2027-01-15T08:00:00Z"}"#.utf8)
    let j = try S3CredentialResponses.jsonCredentials(json, obtained: now, source: "imds")
    #expect(j.credentials == S3Credentials(accessKeyID: "ASIAY", secretAccessKey: "k", sessionToken: "t"))
    #expect(j.expiration == Date(timeIntervalSince1970: 1_800_000_000))
    #expect(throws: SnapshotError.self) {
      try S3CredentialResponses.jsonCredentials(Array(#"{"Code":"Failure"}"#.utf8), obtained: now, source: "imds")
    }
    #expect(throws: SnapshotError.self) { try S3CredentialResponses.jsonCredentials(Array("<html/>".utf8), obtained: now, source: "imds") }
    #expect(throws: SnapshotError.self) { try S3CredentialResponses.stsCredentials(error, obtained: now, source: "sts") }
  }

  @Test("the form body of AssumeRoleWithWebIdentity is percent-encoded")
  func formBody() {
    let body = S3CredentialResponses.assumeRoleWithWebIdentityBody(roleARN: "arn:aws:iam::1:role/r", sessionName: "s", token: "a+b/c=")
    #expect(
      body
        == "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=a%2Bb%2Fc%3D"
    )
  }

  @Test("renewal: never signs with expired credentials, and not before half their lifetime (at most 5 minutes early)")
  func renewal() async {
    await propertyCheck(count: 500, input: Gen.int(in: 1...86_400), Gen.int(in: 0...90_000)) { lifetime, elapsed in
      let obtained = Date(timeIntervalSince1970: 1_800_000_000)
      let t = S3TemporaryCredentials(
        credentials: S3Credentials(accessKeyID: "A", secretAccessKey: "S"), expiration: obtained.addingTimeInterval(TimeInterval(lifetime)),
        obtained: obtained, source: "test")
      let now = obtained.addingTimeInterval(TimeInterval(elapsed))
      if elapsed >= lifetime { #expect(t.needsRefresh(at: now), "expired ones are always renewed") }
      if Double(elapsed) < Double(lifetime) / 2 && Double(lifetime - elapsed) > 300 { #expect(!t.needsRefresh(at: now)) }
      #expect(t.needsRefresh(at: now) == (Double(elapsed) >= Double(lifetime) - min(300, Double(lifetime) / 2)))
    }
    let fixed = S3TemporaryCredentials(
      credentials: S3Credentials(accessKeyID: "A", secretAccessKey: "S"), expiration: nil, obtained: Date(), source: "file")
    #expect(!fixed.needsRefresh(at: .distantFuture))
  }
}
