import SecretCore

/// Checks of argument shapes shared by several commands.
enum ResourceNameCheck {
    /// Delegate selectors follow the same character rules as names.
    static func isValidSelector(_ text: String) -> Bool { ResourceName.isValid(text) }
}
