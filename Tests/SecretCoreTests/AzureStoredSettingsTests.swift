import Foundation
@testable import Managers
import SecretCore
import Testing

/// The stored settings of an Azure Key Vault manager are checked again at every use, as `manager add` checked them.
@Suite struct AzureStoredSettingsTests {
    static let good = ["vault-name": "my-vault", "environment": "AzureCloud", "credentials": "client-secret",
                       "tenant-id": "11111111-2222-3333-4444-555555555555", "client-id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]

    func descriptor(_ config: [String: String]) throws -> ManagerDescriptor {
        ManagerDescriptor(id: 7, name: try ResourceName("akv"), type: .azureKeyVault, config: config, sealedCredentials: nil,
                          isDefault: false, scopes: [], selectors: [], createdAt: Date())
    }

    @Test func goodSettingsPass() throws {
        try ManagerRegistry.checkStoredSettings(try descriptor(Self.good))
        let config = try AzureManagerConfig(try descriptor(Self.good))
        #expect(config.vaultURL.absoluteString == "https://my-vault.vault.azure.net")
        let china = try AzureManagerConfig(try descriptor(Self.good.merging(["environment": "AzureChinaCloud"]) { $1 }))
        #expect(china.vaultURL.absoluteString == "https://my-vault.vault.azure.cn" && china.cloud.vaultScope == "https://vault.azure.cn/.default")
    }

    @Test func alteredSettingsAreRefusedBeforeAnyRequest() throws {
        let bad: [(String, String)] = [("vault-name", "evil.example.com/x"), ("vault-url", "http://127.0.0.1:9/secrets"), ("tenant-id", "../common"),
                                       ("client-id", "x\r\nInjected: 1"), ("prefix", "../up"), ("environment", "Elsewhere"),
                                       ("login-endpoint", "http://h/path"), ("metadata-endpoint", "ftp://h")]
        for (key, value) in bad {
            #expect(throws: SecretError.self, "\(key)") { try ManagerRegistry.checkStoredSettings(try descriptor(Self.good.merging([key: value]) { $1 })) }
            do {
                try ManagerRegistry.checkStoredSettings(try descriptor(Self.good.merging([key: value]) { $1 }))
            } catch let error as SecretError {
                #expect(error.code == .corruptStore && error.message.contains("invalid stored \(key) setting"), "\(error.message)")
                #expect(!error.message.contains("Injected"))
            }
        }
        var neither = Self.good
        neither["vault-name"] = nil
        #expect(throws: SecretError.self) { try ManagerRegistry.checkStoredSettings(try descriptor(neither)) }
    }
}
