/// The names editors give their swap, backup, lock and probe files: in an environment directory
/// of the mount such a file lives in the daemon's memory only, never in the store.
///
/// - vim: `.NAME.swp` and the rest of its swap series (`.swo`, `.swn`, ... `.sva`, and the
///   `.swpx` probe), `NAME~` (backup), and the write probe `4913` (then `5036`, `5159`, ... in
///   steps of 123 while the name is taken);
/// - emacs: `#NAME#` (auto-save) and `.#NAME` (lock);
/// - any `NAME~` (backups of sed, nano, joe, mc and others).
public enum ScratchName {
    /// Whether `name` is an editor's scratch file name.
    public static func matches(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= ResourceName.maximumLength + 16 else { return false }
        if bytes.last == UInt8(ascii: "~") { return true }
        if bytes.first == UInt8(ascii: "#"), bytes.last == UInt8(ascii: "#"), bytes.count > 2 { return true }
        if bytes.starts(with: Array(".#".utf8)), bytes.count > 2 { return true }
        if bytes.first == UInt8(ascii: "."), isVimSwapSuffix(bytes) { return true }
        if let number = Int(name), number >= 4913, (number - 4913) % 123 == 0, number < 4913 + 123 * 1000 { return true }
        return false
    }

    /// `.sw` or `.sv` and a letter, or `.swpx`, after at least one more character.
    private static func isVimSwapSuffix(_ bytes: [UInt8]) -> Bool {
        if bytes.count > 6, bytes.suffix(5).elementsEqual(".swpx".utf8) { return true }
        guard bytes.count > 5 else { return false }
        let tail = bytes.suffix(4)
        let start = tail.startIndex
        return tail[start] == UInt8(ascii: ".") && tail[start + 1] == UInt8(ascii: "s")
            && (tail[start + 2] == UInt8(ascii: "w") || tail[start + 2] == UInt8(ascii: "v"))
            && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(tail[start + 3])
    }
}
