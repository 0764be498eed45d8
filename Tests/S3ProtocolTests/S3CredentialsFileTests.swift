import S3Protocol
import Testing

@Suite("S3 credentials files")
struct S3CredentialsFileTests {
  @Test("credentials file: AWS profiles and environment-style lines")
  func credentialsFile() {
    let aws = """
      # comment
      [default]
      aws_access_key_id = AK1
      aws_secret_access_key = SK1

      [profile backup]
      aws_access_key_id=AK2
      aws_secret_access_key=SK2
      aws_session_token=TK2
      """
    #expect(S3CredentialsFile.parse(aws) == .init(accessKey: "AK1", secretKey: "SK1", sessionToken: nil))
    #expect(S3CredentialsFile.parse(aws, profile: "backup") == .init(accessKey: "AK2", secretKey: "SK2", sessionToken: "TK2"))
    #expect(S3CredentialsFile.parse(aws, profile: "missing") == .init())
    let env = "export AWS_ACCESS_KEY_ID=\"AK3\"\r\nAWS_SECRET_ACCESS_KEY='S=K3'\nOTHER=1\n"
    #expect(S3CredentialsFile.parse(env) == .init(accessKey: "AK3", secretKey: "S=K3", sessionToken: nil))
  }
}
