import ArgumentParser
import SecretCore
import SecretFSKit

extension ManagerCommand {
    /// `secretfs manager rotate`: re-wrap every data key a manager holds, one version at a time.
    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-wrap every data key a manager holds under new key material, without re-encrypting any value.",
            discussion: """
                builtin: a new key epoch of the manager's key. aws-kms: KMS ReEncrypt to the key's current material, or \
                to another key with --to-key-arn. gcp-kms: decrypt and encrypt again under the key's primary version, or \
                under another key of the same key ring with --to-key. New seals use the new key from the moment the rotation \
                begins. Each version is re-wrapped in its own transaction, so a run that is stopped (Ctrl-C stops between two \
                versions) or killed is finished by running it again. Once every version is re-wrapped, the old key is no \
                longer used and may be disabled.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The manager's name.", completion: .managers) var name: String
        @Option(name: .customLong("to-key-arn"), help: ArgumentHelp("aws-kms: move to another KMS key of the manager's region (its setting switches).", valueName: "arn"))
        var toKeyARN: String?
        @Option(name: .customLong("to-key"), help: ArgumentHelp("gcp-kms: move to another key of the manager's key ring (its setting switches).", valueName: "key"))
        var toKey: String?
        @Flag(help: "One JSON line per version, then a summary line.") var json = false

        func validate() throws {
            if toKeyARN != nil && toKey != nil {
                throw ValidationError("--to-key-arn (aws-kms) and --to-key (gcp-kms) cannot be combined")
            }
        }

        func run() throws {
            try performing {
                let name = try ResourceName(name, what: "manager")
                let service = try global.service()
                let target = try Self.target(for: try service.managerDescriptor(named: name), toKeyARN: toKeyARN, toKey: toKey)
                BatchInterruption.install()
                let rotation = try service.beginRotation(of: name, to: target, caller: cliCaller)
                if rotation.resumed && !json { writeStandardError("resuming the unfinished key rotation of manager '\(name)'\n") }
                let progress = BatchProgress(total: rotation.versions.count, verb: "re-wrapped", json: json)
                var interrupted = false, failed = false
                for location in rotation.versions {
                    if BatchInterruption.requested { interrupted = true; break }
                    let secret = location.path.description
                    progress.starting("\(secret) version \(location.number)")
                    do {
                        switch try service.rotate(location, in: rotation, caller: cliCaller) {
                        case .rewrapped:
                            progress.record(secret, .done, version: location.number)
                        case .alreadyCurrent:
                            progress.record(secret, .skipped, detail: "already under the new key", version: location.number)
                        case .gone:
                            progress.record(secret, .skipped, detail: "no longer held by manager '\(name)' (moved, renamed or removed meanwhile)", version: location.number)
                        }
                    } catch let error as SecretError {
                        failed = true
                        progress.record(secret, .failed, detail: error.message, version: location.number)
                    }
                }
                // Only a complete run retires the old keys: until then some data key may still need them.
                var finish: RotationFinish?
                var finishFailure: SecretError?
                if !interrupted && !failed {
                    do { finish = try service.finishRotation(rotation, caller: cliCaller) } catch let error as SecretError { finishFailure = error }
                }
                let succeeded = progress.finish(interrupted: interrupted)
                if let finishFailure { throw finishFailure }
                if !json {
                    print(finish == .retired ? "manager \(name): every data key is under the new key; the old key is no longer used and may be disabled"
                                             : "manager \(name): the rotation is unfinished and the old key is still needed; run 'secretfs manager rotate \(name)' again")
                }
                guard succeeded else { throw ExitCode(interrupted ? 130 : 1) }
                switch finish {
                case .retired?, nil:
                    break
                case .oldKeyStillNeeded(let count)?:
                    throw SecretError(.internalError, "\(count) version(s) of manager '\(name)' written while the rotation began still need the old key; run 'secretfs manager rotate \(name)' again")
                case .managerChanged?:
                    throw SecretError(.internalError, "manager '\(name)' changed while its keys were rotated (another rotation began?); run 'secretfs manager rotate \(name)' again")
                }
            }
        }

        /// The target the options name, checked against the manager's type (each option belongs to one type).
        static func target(for descriptor: ManagerDescriptor, toKeyARN: String?, toKey: String?) throws -> RotationTarget {
            switch descriptor.type {
            case .awsKMS:
                guard toKey == nil else {
                    throw SecretError(.invalidArgument, "--to-key is for gcp-kms managers; manager '\(descriptor.name)' (aws-kms) moves to another key with --to-key-arn")
                }
                if let arn = toKeyARN {
                    guard AWSManagerConfig.isKeyARN(arn) else {
                        throw SecretError(.invalidArgument, "invalid --to-key-arn: expected arn:aws:kms:REGION:ACCOUNT:key/ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME")
                    }
                    let region = try AWSManagerConfig(descriptor).region
                    if let arnRegion = AWSManagerConfig.region(ofARN: arn), arnRegion != region {
                        throw SecretError(.invalidArgument, "the --to-key-arn key is in region \(arnRegion) but manager '\(descriptor.name)' is in \(region); a rotation stays in one region")
                    }
                }
                return RotationTarget(key: toKeyARN)
            case .gcpKMS:
                guard toKeyARN == nil else {
                    throw SecretError(.invalidArgument, "--to-key-arn is for aws-kms managers; manager '\(descriptor.name)' (gcp-kms) moves to another key of its key ring with --to-key")
                }
                return RotationTarget(key: toKey)
            case .builtin, .awsSecretsManager, .vault, .azureKeyVault:
                // The manager itself explains why it has no other key (builtin) or no data keys at all.
                return RotationTarget(key: toKeyARN ?? toKey)
            }
        }
    }
}
