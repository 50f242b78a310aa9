import Foundation

/// A fresh directory under the system temp dir, removed when released.
public final class TemporaryDirectory: @unchecked Sendable {
    /// Its absolute path.
    public let path: String

    /// Creates `/tmp/secretfs-test-XXXXXX` with mode 0700.
    public init(prefix: String = "secretfs-test") {
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).standardizedFileURL.resolvingSymlinksInPath().path
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        path = String(cString: made)
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Every regular file below `root`, recursively.
public func allFiles(under root: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
        let full = "\(root)/\(relative)"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
            files.append(full)
        }
    }
    return files
}

/// Whether `needle` occurs anywhere in the bytes of `file`.
public func fileContains(_ file: String, _ needle: [UInt8]) -> Bool {
    guard let data = FileManager.default.contents(atPath: file), !needle.isEmpty else { return false }
    let haystack = [UInt8](data)
    guard haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<(start + needle.count)]) == needle { return true }
    }
    return false
}
