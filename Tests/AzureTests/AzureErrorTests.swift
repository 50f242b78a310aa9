@testable import Azure
import Foundation
import SecureMemory
import Testing

/// Azure's error answers, read at their exact paths, and the waits Azure asks for.
@Suite struct AzureErrorTests {
    func error(_ status: Int, _ body: String, token: Bool = false) -> AzureError {
        AzureError.from(status: status, body: SecureBytes(copying: Array(body.utf8)), what: "Key Vault get of x", tokenRequest: token)
    }

    @Test func keyVaultErrorsKeepTheirCodeAndMessageOnOneLine() {
        let notFound = error(404, #"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) x was not found in this key vault.\r\nIf you recently deleted it..."}}"#)
        #expect(notFound.kind == .notFound)
        #expect(notFound.code == "SecretNotFound")
        #expect(notFound.description == "Key Vault get of x failed with HTTP 404: SecretNotFound: A secret with (name/id) x was not found in this key vault. If you recently deleted it...")
        let conflict = error(409, #"{"error":{"code":"Conflict","message":"Secret x is currently in a deleted but recoverable state","innererror":{"code":"ObjectIsDeletedButRecoverable"}}}"#)
        #expect(conflict.kind == .conflict && conflict.innerCode == "ObjectIsDeletedButRecoverable")
        #expect(error(400, #"{"error":{"code":"BadParameter","message":"Secret is beyond the maximum permitted length of 25600 characters."}}"#).kind == .tooLarge)
        #expect(error(401, #"{"error":{"code":"Unauthorized","message":"AKV10000"}}"#).kind == .unauthorized)
        #expect(error(403, #"{"error":{"code":"Forbidden","message":"no purge permission"}}"#).kind == .forbidden)
        #expect(error(503, "<html>busy</html>").description == "Key Vault get of x failed with HTTP 503")
    }

    /// Entra ID's OAuth shape: `error` is a string, the text in `error_description`, trace IDs cut off.
    @Test func entraIDErrorsAreAuthenticationFailures() {
        let wrong = error(401, #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1 Correlation ID: 2 Timestamp: 3","error_codes":[7000215]}"#, token: true)
        #expect(wrong.kind == .authenticationFailed)
        #expect(wrong.code == "invalid_client")
        #expect(wrong.description == "Key Vault get of x failed with HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.")
        #expect(error(400, #"{"error":"invalid_request","error_description":"Identity not found"}"#, token: true).kind == .authenticationFailed)
        #expect(error(500, #"{"error":"server_error"}"#, token: true).kind == .unreachable)
    }

    /// A key named `code` or `message` elsewhere in the answer is another value.
    @Test func onlyTheExactPathsAreRead() {
        let decoy = error(404, #"{"code":"Decoy","message":"decoy","error":{"inner":{"code":"Nested"}}}"#)
        #expect(decoy.code == nil)
        #expect(decoy.description == "Key Vault get of x failed with HTTP 404")
    }

    @Test func retryAfterTakesSecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.seconds("3", now: now) == 3)
        #expect(RetryAfter.seconds(" 0 ", now: now) == 0)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:47 GMT", now: now) == 10)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:27 GMT", now: now) == 0)
        #expect(RetryAfter.seconds(nil, now: now) == nil)
        #expect(RetryAfter.seconds("-1", now: now) == nil)
        #expect(RetryAfter.seconds("soon", now: now) == nil)
        #expect(RetryAfter.seconds("99999999999999", now: now) == nil)
    }

    @Test func tokensAreReadFromEitherShapeAndRefusedWhenOdd() throws {
        let sent = Date()
        let entra = try AzureTokenSource.token(from: SecureBytes(copying: Array(#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.a.b"}"#.utf8)), what: "t", sent: sent)
        #expect(entra.lifetime == 3599 && entra.value.unprotectedArray() == Array("eyJ.a.b".utf8))
        let imds = try AzureTokenSource.token(from: SecureBytes(copying: Array(#"{"access_token":"t2","expires_in":"86399","token_type":"Bearer","resource":"https://vault.azure.net"}"#.utf8)), what: "t", sent: sent)
        #expect(imds.lifetime == 86399)
        // Used until a fifth of its life (at most 5 minutes) before it ends.
        #expect(entra.isUsable(at: sent.addingTimeInterval(3298)))
        #expect(!entra.isUsable(at: sent.addingTimeInterval(3300)))
        let short = AccessToken(value: SecureBytes(), obtained: sent, lifetime: 5)
        #expect(short.isUsable(at: sent.addingTimeInterval(3.9)) && !short.isUsable(at: sent.addingTimeInterval(4.1)))
        for odd in [#"{"token_type":"mac","expires_in":1,"access_token":"t"}"#, #"{"expires_in":1}"#, #"{"access_token":"t"}"#,
                    #"{"access_token":"a b","expires_in":1}"#, #"{"access_token":"t","expires_in":0}"#, "not json"] {
            #expect(throws: AzureError.self, "\(odd)") { try AzureTokenSource.token(from: SecureBytes(copying: Array(odd.utf8)), what: "t", sent: sent) }
        }
    }

    @Test func formBodiesEncodeEverythingButUnreservedCharacters() {
        let form = FormBody()
        form.append("grant_type", "client_credentials")
        form.append("client_secret", SecureBytes(copying: Array("a+b/c=d&e~f.g_h-i%".utf8)))
        form.append("scope", AzureCloud.usGovernment.vaultScope)
        #expect(String(decoding: form.bytes.unprotectedArray(), as: UTF8.self)
                == "grant_type=client_credentials&client_secret=a%2Bb%2Fc%3Dd%26e~f.g_h-i%25&scope=https%3A%2F%2Fvault.usgovcloudapi.net%2F.default")
    }
}
