import SecureMemory

// A JSON reader for answers from outside (Vault, KMS, STS, Secrets Manager, metadata servers).
//
// Invariants:
// - A field is found by its exact path from the root (`auth.lease_duration`), never by scanning
//   for the first matching key: the same key elsewhere, at another depth or before the real one,
//   is a different value.
// - The whole document is checked once (RFC 8259 grammar, nesting at most `maximumDepth`, at most
//   `maximumValues` values, no repeated key in one object) before anything is read from it, so a
//   truncated or ambiguous answer is refused instead of half-read.
// - String values stay in the `SecureBytes` body until asked for; secret ones are unescaped
//   straight into another `SecureBytes`, never through a Swift `String`.
// - Errors name the path and the kind of value found, never the document's bytes.

/// Why a JSON document could not be read. Its text never quotes the document, which may hold secrets.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    /// One line saying what is wrong and where.
    public let description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// One step into a JSON document: an object's member or an array's element.
public enum JSONPathComponent: Sendable, Hashable {
    case key(String)
    case index(Int)
}

/// An exact location in a JSON document, such as `data.data.value`.
public struct JSONPath: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The steps from the root.
    public let components: [JSONPathComponent]

    /// A path of explicit steps (for keys that hold dots).
    public init(_ components: [JSONPathComponent]) { self.components = components }

    /// A path of object keys separated by dots; `""` is the root.
    public init(stringLiteral text: String) {
        components = text.isEmpty ? [] : text.split(separator: ".", omittingEmptySubsequences: false).map { .key(String($0)) }
    }

    /// This path, one member further.
    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }

    /// This path, one array element further.
    public func appending(index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    /// The path as written in messages: `data.data.value`, `Errors[0]`, `(the document)` for the root.
    public var description: String {
        guard !components.isEmpty else { return "(the document)" }
        var out = ""
        for component in components {
            switch component {
            case .key(let key): out += (out.isEmpty ? "" : ".") + key
            case .index(let index): out += "[\(index)]"
            }
        }
        return out
    }
}

/// A checked JSON document whose values are read at exact paths.
public struct JSONDocument: Sendable {
    /// The type of a JSON value.
    public enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null

        /// The kind as it reads in a message: "an object", "a number".
        public var name: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    struct Node: Sendable {
        var kind: Kind
        /// For strings, the bytes between the quotes; for other values, the value's own bytes.
        var range: Range<Int>
        var key: String?
        var firstChild: Int32 = -1
        var nextSibling: Int32 = -1
        /// A string that holds escapes (so it cannot be copied out as it stands).
        var escaped = false
    }

    private let body: SecureBytes
    private let nodes: [Node]

    /// Deepest nesting accepted; Vault, AWS and Google answers nest a handful of levels.
    public static let maximumDepth = 64

    /// Checks `body` as one JSON document and indexes its values; throws `JSONError` if it is not one.
    public init(_ body: SecureBytes, maximumValues: Int = 1 << 20) throws {
        self.body = body
        nodes = try body.withUnsafeBytes { bytes in
            var parser = JSONParser(bytes: bytes, maximumValues: maximumValues)
            try parser.parseDocument()
            return parser.nodes
        }
    }

    /// The kind of the value at `path`, or nil when there is none.
    public func kind(_ path: JSONPath) -> Kind? {
        node(at: path).map { nodes[$0].kind }
    }

    /// Whether a value is at `path` (null counts as present).
    public func contains(_ path: JSONPath) -> Bool { node(at: path) != nil }

    /// The string at `path`, unescaped, for values that are not secret; nil when absent or null.
    public func string(_ path: JSONPath) throws -> String? {
        guard let raw = try secretString(path) else { return nil }
        return String(decoding: raw.unprotectedArray(), as: UTF8.self)
    }

    /// The string at `path` unescaped straight into a wiped buffer; nil when absent or null.
    public func secretString(_ path: JSONPath) throws -> SecureBytes? {
        guard let index = try expect(.string, at: path) else { return nil }
        let node = nodes[index]
        return body.withUnsafeBytes { bytes in
            let raw = UnsafeRawBufferPointer(rebasing: bytes[node.range])
            return node.escaped ? JSONUnescaping.unescape(raw) : SecureBytes(copying: raw)
        }
    }

    /// The base64 string at `path` decoded into a wiped buffer; nil when absent or null.
    public func secretBase64(_ path: JSONPath) throws -> SecureBytes? {
        guard let text = try secretString(path) else { return nil }
        guard let decoded = text.withUnsafeBytes({ Base64Secure.decode($0) }) else {
            throw JSONError("\(path) is not valid base64")
        }
        return decoded
    }

    /// The integer at `path`; nil when absent or null; an error when it is not a whole number that fits.
    public func int(_ path: JSONPath) throws -> Int? {
        guard let index = try expect(.number, at: path) else { return nil }
        let text = body.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[nodes[index].range]), as: UTF8.self) }
        guard let value = Int(text) else { throw JSONError("\(path) is not a whole number") }
        return value
    }

    /// The number at `path` as a double; nil when absent or null.
    public func double(_ path: JSONPath) throws -> Double? {
        guard let index = try expect(.number, at: path) else { return nil }
        let text = body.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[nodes[index].range]), as: UTF8.self) }
        return Double(text)
    }

    /// The boolean at `path`; nil when absent or null.
    public func bool(_ path: JSONPath) throws -> Bool? {
        guard let index = try expect(.bool, at: path) else { return nil }
        return body.withUnsafeBytes { $0[nodes[index].range.lowerBound] == UInt8(ascii: "t") }
    }

    /// The array of strings at `path` (Vault's `errors`); nil when absent or null.
    public func strings(_ path: JSONPath) throws -> [String]? {
        guard let index = try expect(.array, at: path) else { return nil }
        var out: [String] = []
        for (offset, _) in children(of: index).enumerated() {
            guard let text = try string(path.appending(index: offset)) else { throw JSONError("\(path)[\(offset)] is null, not a string") }
            out.append(text)
        }
        return out
    }

    /// The keys of the object at `path`, in document order; nil when absent or null.
    public func keys(_ path: JSONPath) throws -> [String]? {
        guard let index = try expect(.object, at: path) else { return nil }
        return children(of: index).compactMap { nodes[$0].key }
    }

    /// The number of elements of the array at `path`; nil when absent or null.
    public func count(_ path: JSONPath) throws -> Int? {
        guard let index = try expect(.array, at: path) else { return nil }
        return children(of: index).count
    }

    /// The node at `path` if it has `kind`; nil if absent or null; an error naming both kinds otherwise.
    private func expect(_ kind: Kind, at path: JSONPath) throws -> Int? {
        guard let index = node(at: path), nodes[index].kind != .null else { return nil }
        guard nodes[index].kind == kind else { throw JSONError("\(path) is \(nodes[index].kind.name), not \(kind.name)") }
        return index
    }

    private func node(at path: JSONPath) -> Int? {
        var current = 0
        for component in path.components {
            let node = nodes[current]
            switch (component, node.kind) {
            case (.key(let key), .object):
                guard let child = children(of: current).first(where: { nodes[$0].key == key }) else { return nil }
                current = child
            case (.index(let wanted), .array):
                let elements = children(of: current)
                guard elements.indices.contains(wanted) else { return nil }
                let child = elements[wanted]
                current = child
            default:
                return nil
            }
        }
        return current
    }

    private func children(of index: Int) -> [Int] {
        var out: [Int] = []
        var child = Int(nodes[index].firstChild)
        while child >= 0 {
            out.append(child)
            child = Int(nodes[child].nextSibling)
        }
        return out
    }
}

/// One pass over a document: checks the grammar and records every value as a node.
private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maximumValues: Int
    var index = 0
    var nodes: [JSONDocument.Node] = []

    mutating func parseDocument() throws {
        skipWhitespace()
        _ = try parseValue(key: nil, depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw failure("more data after the document") }
    }

    private mutating func parseValue(key: String?, depth: Int) throws -> Int {
        guard depth <= JSONDocument.maximumDepth else { throw failure("nested deeper than \(JSONDocument.maximumDepth) levels") }
        guard nodes.count < maximumValues else { throw failure("more than \(maximumValues) values") }
        guard index < bytes.count else { throw failure("the document ends where a value should be") }
        let at = nodes.count
        let start = index
        nodes.append(JSONDocument.Node(kind: .null, range: start..<start, key: key))
        switch bytes[index] {
        case UInt8(ascii: "{"):
            nodes[at].kind = .object
            index += 1
            try parseMembers(of: at, depth: depth)
        case UInt8(ascii: "["):
            nodes[at].kind = .array
            index += 1
            try parseElements(of: at, depth: depth)
        case UInt8(ascii: "\""):
            let (range, escaped) = try scanString()
            nodes[at].kind = .string
            nodes[at].range = range
            nodes[at].escaped = escaped
            return at
        case UInt8(ascii: "t"):
            try literal("true")
            nodes[at].kind = .bool
        case UInt8(ascii: "f"):
            try literal("false")
            nodes[at].kind = .bool
        case UInt8(ascii: "n"):
            try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            nodes[at].kind = .number
        default:
            throw failure("a value cannot start here")
        }
        nodes[at].range = start..<index
        return at
    }

    private mutating func parseMembers(of parent: Int, depth: Int) throws {
        skipWhitespace()
        if peek(UInt8(ascii: "}")) { index += 1; return }
        var last = -1
        var seen = Set<String>()
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw failure("an object key must be a string") }
            let (range, escaped) = try scanString()
            let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
            let key = escaped ? String(decoding: JSONUnescaping.unescape(raw).unprotectedArray(), as: UTF8.self) : String(decoding: raw, as: UTF8.self)
            // Readers disagree on which of two equal keys wins; an answer that has them is refused.
            guard seen.insert(key).inserted else { throw failure("an object repeats a key") }
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw failure("':' expected after an object key") }
            index += 1
            skipWhitespace()
            let child = try parseValue(key: key, depth: depth + 1)
            link(child, to: parent, after: &last)
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { index += 1; continue }
            if peek(UInt8(ascii: "}")) { index += 1; return }
            throw failure("',' or '}' expected in an object")
        }
    }

    private mutating func parseElements(of parent: Int, depth: Int) throws {
        skipWhitespace()
        if peek(UInt8(ascii: "]")) { index += 1; return }
        var last = -1
        while true {
            skipWhitespace()
            let child = try parseValue(key: nil, depth: depth + 1)
            link(child, to: parent, after: &last)
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { index += 1; continue }
            if peek(UInt8(ascii: "]")) { index += 1; return }
            throw failure("',' or ']' expected in an array")
        }
    }

    private mutating func link(_ child: Int, to parent: Int, after last: inout Int) {
        if last < 0 { nodes[parent].firstChild = Int32(child) } else { nodes[last].nextSibling = Int32(child) }
        last = child
    }

    /// Scans the string starting at the opening quote; returns the bytes between the quotes.
    private mutating func scanString() throws -> (Range<Int>, escaped: Bool) {
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let range = start..<index
                index += 1
                return (range, escaped)
            }
            if byte < 0x20 { throw failure("a control character inside a string") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                guard index + 1 < bytes.count else { break }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= bytes.count, JSONUnescaping.hexQuad(bytes, at: index + 2) != nil else { throw failure("a \\u escape without four hex digits") }
                    index += 6
                default:
                    throw failure("an unknown escape in a string")
                }
                continue
            }
            index += 1
        }
        throw failure("a string is not closed")
    }

    private mutating func scanNumber() throws {
        if peek(UInt8(ascii: "-")) { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a malformed number") }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        if peek(UInt8(ascii: ".")) {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a malformed number") }
            skipDigits()
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a malformed number") }
            skipDigits()
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("a malformed literal") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw failure("a malformed literal") }
        index += count
    }

    private mutating func skipDigits() { while index < bytes.count, isDigit(bytes[index]) { index += 1 } }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: index += 1
            default: return
            }
        }
    }

    private func failure(_ what: String) -> JSONError {
        JSONError("malformed JSON at byte \(index): \(what)")
    }
}

/// Turning a JSON string's escapes back into bytes.
enum JSONUnescaping {
    /// Unescapes the bytes between a string's quotes (already checked by the parser) into a wiped buffer.
    static func unescape(_ raw: UnsafeRawBufferPointer) -> SecureBytes {
        // Unescaping never lengthens: `\uXXXX` (6 bytes) becomes at most 3, a pair (12) at most 4.
        let out = SecureBytes(uninitializedCount: raw.count)
        let written = out.withUnsafeMutableBytes { buffer -> Int in
            var written = 0
            var index = 0
            func put(_ byte: UInt8) { buffer[written] = byte; written += 1 }
            while index < raw.count {
                // Copy the run up to the next backslash in one go.
                var end = index
                while end < raw.count, raw[end] != UInt8(ascii: "\\") { end += 1 }
                if end > index {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + end - index)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[index..<end]))
                    written += end - index
                    index = end
                }
                guard index + 1 < raw.count else { break }
                let escaped = raw[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "n"): put(0x0a)
                case UInt8(ascii: "r"): put(0x0d)
                case UInt8(ascii: "t"): put(0x09)
                case UInt8(ascii: "b"): put(0x08)
                case UInt8(ascii: "f"): put(0x0c)
                case UInt8(ascii: "u") where index + 4 <= raw.count:
                    var scalar = hexQuad(raw, at: index) ?? 0xfffd
                    index += 4
                    if (0xd800..<0xdc00).contains(scalar) {
                        // A surrogate pair: \uD8xx\uDCxx; a high half without a low one is U+FFFD.
                        if index + 6 <= raw.count, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u"),
                           let low = hexQuad(raw, at: index + 2), (0xdc00..<0xe000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                            index += 6
                        } else {
                            scalar = 0xfffd
                        }
                    } else if (0xdc00..<0xe000).contains(scalar) {
                        scalar = 0xfffd
                    }
                    encodeUTF8(scalar, put)
                default: put(escaped)
                }
            }
            return written
        }
        out.resize(to: written)
        return out
    }

    /// The four hex digits at `index` as a number; nil unless all four are hex digits (no sign,
    /// no space: `UInt32(_:radix:)` alone would take `+fff`).
    static func hexQuad(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt32? {
        guard index >= 0, index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func encodeUTF8(_ scalar: UInt32, _ put: (UInt8) -> Void) {
        switch scalar {
        case 0..<0x80:
            put(UInt8(scalar))
        case 0x80..<0x800:
            put(UInt8(0xc0 | scalar >> 6)); put(UInt8(0x80 | scalar & 0x3f))
        case 0x800..<0x10000:
            put(UInt8(0xe0 | scalar >> 12)); put(UInt8(0x80 | scalar >> 6 & 0x3f)); put(UInt8(0x80 | scalar & 0x3f))
        default:
            put(UInt8(0xf0 | scalar >> 18)); put(UInt8(0x80 | scalar >> 12 & 0x3f)); put(UInt8(0x80 | scalar >> 6 & 0x3f)); put(UInt8(0x80 | scalar & 0x3f))
        }
    }
}
