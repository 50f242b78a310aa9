/// The release both executables report with `--version`; scripts/package names the Debian
/// package after it, so this line is the one place a release's number is written.
public enum SecretFSVersion {
    /// The version, as `MAJOR.MINOR.PATCH`.
    public static let current = "0.1.0"
}
