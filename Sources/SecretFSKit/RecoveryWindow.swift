import Foundation
import SecretCore

/// The recovery window of deletions, as `--recovery-window-days` gives it to `secretfs secret rm`
/// and `secretfsd`.
public enum RecoveryWindow {
    /// The longest window accepted, in days (ten years).
    public static let maximumDays: Double = 3650

    /// The window of `days` days in seconds; 0 purges at once. Fractions of a day are accepted
    /// (0.5 is twelve hours); anything negative, not finite or over `maximumDays` is refused.
    public static func seconds(days: Double) throws -> TimeInterval {
        guard days.isFinite, days >= 0, days <= maximumDays else {
            throw SecretError(.invalidArgument, "invalid --recovery-window-days '\(days)': use a number of days from 0 (purge at once) to \(Int(maximumDays))")
        }
        return days * 86400
    }
}
