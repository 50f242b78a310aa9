import Foundation

/// Prints rows as left-aligned columns under a header.
///
/// Cells are shown with `visible`: a process name or any other recorded text with a line break or
/// an escape sequence in it can neither break the table nor send codes to the terminal.
func printTable(_ header: [String], _ rows: [[String]]) {
    let rows = rows.map { $0.map(visible) }
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// Prints a value as pretty, key-sorted JSON with ISO 8601 dates.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A time as ISO 8601 in UTC, to the second.
func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601)
}

/// `text` with control characters (C0, DEL, C1) and backslashes written as escapes (`\n`, `\t`,
/// `\x1b`, `\\`), so what a table shows is one line of plain characters.
func visible(_ text: String) -> String {
    var shown = ""
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x5c: shown += "\\\\"
        case 0x0a: shown += "\\n"
        case 0x09: shown += "\\t"
        case 0x0d: shown += "\\r"
        case 0x00..<0x20, 0x7f..<0xa0: shown += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
        default: shown.unicodeScalars.append(scalar)
        }
    }
    return shown
}

extension String {
    /// The string with zeros in front up to `length` characters.
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
