import Foundation

/// Reads a `Retry-After` header: a number of seconds, or an HTTP date (RFC 9110, section 10.2.3).
enum RetryAfter {
    /// The seconds `header` asks to wait from `now`; nil when absent or unreadable. A date in the past is 0.
    static func seconds(_ header: String?, now: Date = Date()) -> TimeInterval? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return text.utf8.count <= 9 ? TimeInterval(Int(text) ?? 0) : nil
        }
        guard let date = httpDate.withLock({ $0.date(from: text) }) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// IMF-fixdate, the form HTTP servers send (`Sun, 06 Nov 1994 08:49:37 GMT`).
    private static let httpDate = LockedFormatter({
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter
    }())
}

/// A `DateFormatter` used from many threads: formatters are not thread-safe, so every use takes the lock.
final class LockedFormatter: @unchecked Sendable {
    // Unchecked: `formatter` is only touched inside `lock`.
    private let lock = NSLock()
    private let formatter: DateFormatter

    init(_ formatter: DateFormatter) { self.formatter = formatter }

    func withLock<T>(_ body: (DateFormatter) -> T) -> T { lock.withLock { body(formatter) } }
}
