/// The name of one version of a secret in the mount: `NAME@N`, version `N` of secret `NAME`.
///
/// `@` is not among the characters a secret's name may have (`ResourceName`), so no secret's
/// name can be mistaken for a version's. Only the canonical spelling names a version: `N` is a
/// decimal number from 1 without leading zeros (`k@02` is no name), so each version has exactly
/// one name and the kernel's cache of names cannot hold two nodes for one version.
public struct VersionedName: Equatable, Sendable {
    /// The secret's name.
    public let name: ResourceName
    /// The version, from 1.
    public let version: Int

    /// The separator between a secret's name and its version number.
    public static let separator = UInt8(ascii: "@")
    /// The most digits a version number may have (keeps the number far from overflow).
    static let maximumDigits = 9

    /// Creates the name of `version` of `name`.
    public init(name: ResourceName, version: Int) {
        self.name = name
        self.version = version
    }

    /// Splits `NAME@N`; nil for any other text (no `@`, a name no secret can have, a number
    /// that is not canonical).
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard let at = bytes.lastIndex(of: Self.separator) else { return nil }
        let digits = bytes[(at + 1)...]
        guard let first = digits.first, first != UInt8(ascii: "0"), digits.count <= Self.maximumDigits,
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let number = Int(String(decoding: digits, as: UTF8.self)),
              let name = try? ResourceName(String(decoding: bytes[..<at], as: UTF8.self)) else { return nil }
        self.init(name: name, version: number)
    }

    /// `NAME@N`.
    public var text: String { "\(name.rawValue)@\(version)" }
}
