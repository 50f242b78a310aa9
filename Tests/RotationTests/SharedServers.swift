import TestSupport

/// One moto server for every suite of this target (each test makes the KMS keys it disables).
enum SharedServers {
    static let moto = Result { try MotoServer() }
}

extension MountedSecretFS {
    /// Adds an aws-kms manager `name` over `keyARN` with the moto admin's access keys (the secret key from standard input), scoped to `scope`.
    func addKMSManager(_ name: String, keyARN: String, moto: MotoServer, scope: String) throws {
        try cli(["manager", "add", "aws-kms", name, "--key-arn", keyARN, "--credentials", "access-keys", "--access-key-id", moto.accessKeyID,
                 "--secret-access-key-file", "-", "--endpoint", moto.endpoint, "--scope", scope], stdin: moto.secretAccessKey)
    }
}
