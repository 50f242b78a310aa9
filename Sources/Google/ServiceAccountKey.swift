import Crypto
import Foundation
import HTTP
import SecureMemory

/// A Google service account's JSON key, as the console downloads it: the fields the JWT flow needs.
public struct ServiceAccountKey: Sendable {
    /// `client_email`: the JWT's issuer.
    public let clientEmail: String
    /// `private_key_id`: the JWT header's `kid`.
    public let privateKeyID: String?
    /// `token_uri`: where the JWT is exchanged (Google's unless the key says otherwise).
    public let tokenURI: String
    /// The parsed `private_key`.
    public let signer: RSAPrivateKey

    /// Reads a key file's contents; the message of the error never quotes it.
    public init(json: SecureBytes) throws {
        let document: JSONDocument
        do {
            document = try JSONDocument(json)
            guard try document.string("type") == "service_account" else {
                throw GoogleError(.invalidArgument, "the credentials file is not a service-account key (its \"type\" is not \"service_account\")")
            }
            guard let email = try document.string("client_email"), !email.isEmpty, let pem = try document.secretString("private_key") else {
                throw GoogleError(.invalidArgument, "the service-account key has no client_email or private_key")
            }
            clientEmail = email
            privateKeyID = try document.string("private_key_id")
            tokenURI = try document.string("token_uri") ?? "https://oauth2.googleapis.com/token"
            do {
                signer = try RSAPrivateKey(pem: pem)
            } catch let error as CryptoError {
                throw GoogleError(.invalidArgument, "the service-account key's private_key is unusable: \(error.message)")
            }
        } catch let error as JSONError {
            throw GoogleError(.invalidArgument, "the credentials file is not a JSON service-account key: \(error.description)")
        }
    }
}
