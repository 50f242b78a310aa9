/// A version's key reference with the key epoch that wrapped its data key: `KEY` for epoch 0
/// (every reference written before rotations existed), `KEY#N` after.
///
/// The reference is covered by the version's metadata tag, so the epoch read back is the one
/// written; a manager still refuses epochs it no longer accepts.
struct KeyEpochReference: Equatable {
    /// The key (a KMS key ARN, a master key fingerprint).
    let key: String
    /// The epoch, from 0.
    let epoch: Int

    /// Parses a stored reference; a missing one is epoch 0 of no key.
    init(parsing reference: String?) {
        guard let reference else {
            self.init(key: "", epoch: 0)
            return
        }
        if let mark = reference.lastIndex(of: "#"), let epoch = Int(reference[reference.index(after: mark)...]), epoch > 0 {
            self.init(key: String(reference[..<mark]), epoch: epoch)
        } else {
            self.init(key: reference, epoch: 0)
        }
    }

    init(key: String, epoch: Int) {
        self.key = key
        self.epoch = epoch
    }

    /// The stored form.
    var text: String { epoch == 0 ? key : "\(key)#\(epoch)" }

    /// A non-negative epoch setting, 0 when absent; nil when malformed.
    static func setting(_ value: String?) -> Int? {
        guard let value else { return 0 }
        guard let epoch = Int(value), epoch >= 0 else { return nil }
        return epoch
    }
}
