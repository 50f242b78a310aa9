import AWS
import Crypto
import Foundation
import HTTP
import SecureMemory
import Testing

/// AWS's published SigV4 example (IAM ListUsers) and the response scanners.
@Suite struct SigV4Tests {
    @Test func publishedListUsersVector() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecureBytes(copying: Array("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".utf8)))
        let url = URL(string: "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")!
        let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]
        let result = SigV4.signature(method: "GET", url: url, headers: headers,
                                     payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                     credentials: credentials, region: "us-east-1", service: "iam", timestamp: "20150830T123600Z")
        #expect(Hex.encode(SHA256.hash(Array(result.canonicalRequest.utf8))) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        #expect(Hex.encode(result.signingKey) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
        #expect(result.signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
        #expect(result.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    /// Found by scripts/fuzz (Fuzz/corpus/sigv4/crash-query-equals): a query piece that is only "="
    /// (or "=v") split into no parts and trapped; it now canonicalizes with an empty name.
    @Test func queryPieceWithoutNameDoesNotTrap() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: SecureBytes(copying: Array("secret".utf8)))
        let url = URL(string: "https://secretsmanager.us-east-1.amazonaws.com/a%20b?=&=v&x=1")!
        let result = SigV4.signature(method: "GET", url: url, headers: [("Host", "secretsmanager.us-east-1.amazonaws.com")],
                                     payloadHash: "UNSIGNED-PAYLOAD", credentials: credentials, region: "us-east-1",
                                     service: "secretsmanager", timestamp: "20260101T000000Z")
        #expect(result.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "=&=v&x=1")
    }

    @Test func signingAddsSessionTokenAndHost() {
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: SecureBytes(copying: Array("secret".utf8)), sessionToken: SecureBytes(copying: Array("token".utf8)))
        var request = HTTPRequest(method: "POST", url: URL(string: "http://127.0.0.1:4566/")!, body: SecureBytes(copying: Array("{}".utf8)))
        SigV4.sign(&request, credentials: credentials, region: "us-east-1", service: "kms", date: Date(timeIntervalSince1970: 1_440_938_160))
        let names = request.headers.map { $0.0 }
        #expect(names.contains("Host") && names.contains("X-Amz-Security-Token") && names.contains("Authorization"))
        #expect(request.headers.first { $0.0 == "Host" }?.1 == "127.0.0.1:4566")
        #expect(request.headers.first { $0.0 == "X-Amz-Date" }?.1 == "20150830T123600Z")
        #expect(request.headers.first { $0.0 == "Authorization" }?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test func xmlElementsReadWithoutFoundation() {
        let xml = SecureBytes(copying: Array("<Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s/k+</SecretAccessKey></Credentials>".utf8))
        #expect(XMLFields.element("SecretAccessKey", in: xml)?.unprotectedArray() == Array("s/k+".utf8))
        // By nesting: a same-named element outside the path is another element.
        let answer = SecureBytes(copying: Array("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumedRoleUser><AccessKeyId>decoy</AccessKeyId></AssumedRoleUser><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>".utf8))
        #expect(XMLFields.element(["AssumeRoleResponse", "AssumeRoleResult", "Credentials", "AccessKeyId"], in: answer)?.unprotectedArray() == Array("ASIA".utf8))
        #expect(XMLFields.element(["AssumeRoleResponse", "AssumeRoleResult", "Missing", "AccessKeyId"], in: answer) == nil)
    }
}
