import Foundation

/// The mount points this process sees, from `/proc/self/mountinfo`.
public enum MountTable {
    /// Every mount point (field 5 of each line, with its octal escapes decoded).
    public static func mountedPaths() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var paths = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            paths.insert(decodeOctalEscapes(String(fields[4])))
        }
        return paths
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    private static func decodeOctalEscapes(_ text: String) -> String {
        var bytes: [UInt8] = []
        var scalars = Array(text.utf8)[...]
        while let byte = scalars.popFirst() {
            if byte == UInt8(ascii: "\\"), scalars.count >= 3, let value = UInt8(String(decoding: scalars.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                scalars = scalars.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
