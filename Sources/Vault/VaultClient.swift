import Foundation
import HTTP
import Logging
import SecureMemory
import Synchronization

// Vault's HTTP API with a token kept alive the way Vault Agent keeps one.
//
// Invariants:
// - A request never renews or waits for a renewal: it uses the token in hand while that token's
//   lease lasts. Renewal runs on the keeper thread (`keepAlive()`, the daemon), at about two
//   thirds of the lease, whether or not requests come.
// - AppRole logs in only when there is no usable token: at the start, when renewal has reached
//   the token's max TTL (a renewal that no longer extends the lease), or when Vault rejects the
//   token. So `secret_id_num_uses` lasts as long as the role's max TTL allows.
// - At most one login is in flight; requests that need a token meanwhile share its outcome
//   instead of logging in one after another (`SharedFetch`).
// - A circuit breaker fails requests fast for a short backoff after Vault did not answer, so an
//   outage costs one timeout, not one per request; recovery needs no action.

/// How a Vault client authenticates.
public enum VaultAuth: Sendable {
    /// A token given by the operator; renewed (if renewable) at two thirds of its TTL, and at
    /// least every `renewInterval` seconds when that is set.
    case token(SecureBytes, renewInterval: Double?)
    /// AppRole: role ID and secret ID.
    case appRole(roleID: String, secretID: SecureBytes)
}

/// Vault's HTTP API for the KV engines, with token or AppRole auth. Thread-safe.
public final class VaultClient: Sendable {
    private let http: HTTPClient
    private let base: URL
    private let namespace: String?
    private let auth: VaultAuth
    private let timeout: Double
    private let maximumResponseSize: Int
    private let logger: Logger
    private let breaker = CircuitBreaker()
    private let lease: SharedFetch<TokenLease>
    private let keeperStarted = Mutex(false)
    /// Topics already logged by `reportOnce`.
    private let reported = Mutex(Set<String>())
    private let keeperWake = KeeperWake()

    /// Creates a client for the server at `base` (e.g. `https://vault:8200`).
    ///
    /// `maximumResponseSize` bounds one answer; a store of values up to N bytes needs about 6N,
    /// since Vault escapes characters such as `<` and NUL as six-byte `\u` sequences.
    public init(http: HTTPClient, base: URL, namespace: String?, auth: VaultAuth, timeout: Double = 10,
                maximumResponseSize: Int = 64 * 1024 * 1024, logger: Logger = Logger(label: "secretfs.vault")) {
        self.http = http
        self.base = base
        self.namespace = namespace
        self.auth = auth
        self.timeout = timeout
        self.maximumResponseSize = maximumResponseSize
        self.logger = logger
        lease = SharedFetch(waitLimit: timeout + 1)
    }

    deinit {
        keeperWake.stop()
    }

    /// The answer size a store of values up to `bytes` needs: six bytes per value byte, plus the envelope.
    public static func responseLimit(forValuesUpTo bytes: Int) -> Int {
        bytes.multipliedReportingOverflow(by: 6).partialValue + 1024 * 1024
    }

    /// Sends a request to `/v1/PATH` with the current token; returns the status and body.
    ///
    /// A 403 is checked with `lookup-self`: a token Vault no longer accepts is `invalidToken` (and
    /// AppRole logs in again once and retries); a token that works is missing a permission.
    public func request(_ method: String, _ path: String, body: SecureBytes = SecureBytes(), query: String? = nil) throws -> (status: Int, body: SecureBytes) {
        let token = try currentToken()
        let response = try send(method, path, body: body, query: query, token: token)
        guard response.status == 403, try tokenIsRejected(token) else { return response }
        guard case .appRole = auth else {
            throw VaultError(kind: .invalidToken, description: "Vault rejected the token (invalid, expired or revoked): give the manager a new one")
        }
        dropLease(ifHolding: token)
        return try send(method, path, body: body, query: query, token: try currentToken())
    }

    /// `GET auth/token/lookup-self`: checks the token (or AppRole login) works.
    public func lookupSelf() throws {
        let response = try request("GET", "auth/token/lookup-self")
        guard response.status == 200 else { throw Self.error(response, "token lookup") }
    }

    /// Starts keeping the token alive on a thread of its own (for the daemon; the CLI's runs are short).
    public func keepAlive() {
        guard keeperStarted.withLock({ started in defer { started = true }; return !started }) else { return }
        let wake = keeperWake
        let thread = Thread { [weak self] in
            var next = Date()
            while wake.sleep(until: next) {
                guard let self else { return }
                next = self.keepAliveStep()
            }
        }
        thread.name = "vault-token"
        thread.start()
    }

    /// Turns a Vault error response into a `VaultError` naming `what`.
    public static func error(_ response: (status: Int, body: SecureBytes), _ what: String) -> VaultError {
        VaultError.from(status: response.status, body: response.body, what: what)
    }

    // MARK: Sending

    private func send(_ method: String, _ path: String, body: SecureBytes, query: String?, token: SecureBytes?) throws -> (status: Int, body: SecureBytes) {
        var components = URLComponents(url: base.appendingPathComponent("v1/" + path), resolvingAgainstBaseURL: false)!
        components.percentEncodedQuery = query
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("X-Vault-Token", String(decoding: token.unprotectedArray(), as: UTF8.self))) }
        if let namespace, !namespace.isEmpty { headers.append(("X-Vault-Namespace", namespace)) }
        let host = base.host ?? ""
        if let refusal = breaker.admit() {
            throw VaultError(kind: .unreachable, description: "Vault at \(host) is not answering (\(refusal.reason)); next try in \(String(format: "%.1f", refusal.retryIn)) s")
        }
        let response: HTTPResponse
        do {
            response = try http.send(HTTPRequest(method: method, url: components.url!, headers: headers, body: body), timeout: timeout, maximumResponseSize: maximumResponseSize)
        } catch let error as HTTPError where error.code == .invalidRequest {
            breaker.abandoned()
            throw VaultError(kind: .badRequest, description: "request to Vault at \(host) not sent: \(error.description)")
        } catch let error as HTTPError where error.code == .responseTooLarge {
            breaker.succeeded()
            throw VaultError(kind: .tooLarge, description: "Vault at \(host) answered with more than \(maximumResponseSize) bytes, more than a value this mount accepts can need")
        } catch let error as HTTPError {
            breaker.failed(error.description)
            throw VaultError(kind: .unreachable, description: "Vault at \(host) unreachable: \(error.description)")
        } catch {
            breaker.abandoned()
            throw error
        }
        if response.status >= 500 || response.status == 429 {
            breaker.failed(Self.error((response.status, response.body), "request").description)
        } else {
            breaker.succeeded()
        }
        return (response.status, response.body)
    }

    /// Whether Vault refuses `token` itself (as opposed to one request it may not make).
    private func tokenIsRejected(_ token: SecureBytes) throws -> Bool {
        try send("GET", "auth/token/lookup-self", body: SecureBytes(), query: nil, token: token).status == 403
    }

    // MARK: The token

    /// The token to send now: the one in hand while its lease lasts, else a fresh AppRole login.
    private func currentToken() throws -> SecureBytes {
        // An operator's token is sent as it is; Vault says whether it still works.
        if case .token(let fixed, _) = auth { return fixed }
        let before = lease.current
        let now = try lease.get(usable: { $0.isUsable(at: Date()) }, fetch: {
            do {
                return try logIn()
            } catch let error as VaultError {
                throw error
            } catch {
                throw VaultError(kind: .other, description: "Vault AppRole login failed: \(error)")
            }
        }, timedOut: {
            VaultError(kind: .unreachable, description: "Vault AppRole login at \(base.host ?? "") did not finish within \(Int(timeout)) s")
        })
        // A new lease: the keeper schedules its renewal.
        if now.token !== before?.token { keeperWake.signal() }
        return now.token
    }

    private func logIn() throws -> TokenLease {
        guard case .appRole(let roleID, let secretID) = auth else { fatalError("login without AppRole") }
        let body = try SecureJSON.object(["role_id": roleID], secretField: "secret_id", secret: secretID)
        let response = try send("POST", "auth/approle/login", body: body, query: nil, token: nil)
        guard response.status == 200 else { throw Self.error(response, "AppRole login") }
        let lease = try Self.lease(from: response.body, at: "auth", tokenField: "client_token", what: "AppRole login")
        logger.debug("logged in with AppRole", metadata: ["ttl": "\(lease.ttl)", "renewable": "\(lease.renewable)"])
        return lease
    }

    /// The lease an `auth` block (login, renew-self) or a `data` block (lookup-self) describes.
    private static func lease(from body: SecureBytes, at block: String, tokenField: String?, what: String, token: SecureBytes? = nil) throws -> TokenLease {
        do {
            let document = try JSONDocument(body)
            let root = JSONPath(stringLiteral: block)
            let ttlField = block == "auth" ? "lease_duration" : "ttl"
            let value = try tokenField.map { try document.secretString(root.appending($0)) } ?? token
            guard let value, let ttl = try document.int(root.appending(ttlField)) else {
                throw VaultError(kind: .other, description: "Vault \(what) answered without \(block).\(tokenField ?? ttlField)")
            }
            return TokenLease(token: value, ttl: TimeInterval(max(0, ttl)), renewable: try document.bool(root.appending("renewable")) ?? false)
        } catch let error as JSONError {
            throw VaultError(kind: .other, description: "Vault \(what) answered unreadable JSON: \(error.description)")
        }
    }

    private func dropLease(ifHolding token: SecureBytes) {
        lease.update { held in held.flatMap { $0.token.constantTimeEquals(token) ? nil : $0 } }
    }

    // MARK: Keeping it alive

    /// One turn of the keeper: renews or logs in if due; returns when to look again.
    private func keepAliveStep() -> Date {
        let now = Date()
        guard let held = lease.current else {
            // No lease yet: AppRole logs in; an operator's token is looked up for its TTL.
            do {
                switch auth {
                case .appRole: _ = try currentToken()
                case .token(let fixed, _): try learnLease(of: fixed)
                }
                return now
            } catch let error as VaultError where error.kind == .invalidToken || error.kind == .permissionDenied {
                reportOnce("token", "the Vault token is not accepted; the manager fails until it is given a new one: \(error.description)")
                return now.addingTimeInterval(60)
            } catch {
                logger.warning("Vault token keeper: no token yet; trying again", metadata: ["error": "\(error)"])
                return now.addingTimeInterval(5)
            }
        }
        guard let due = held.renewalDue(renewInterval: renewInterval) else { return now.addingTimeInterval(3600) }
        guard due <= now else { return due }
        if held.reachedMaximum || !held.renewable {
            guard case .appRole = auth else {
                reportOnce("final", "the Vault token cannot be renewed further; it expires at \(held.expires.map { $0.formatted(.iso8601) } ?? "-") and the manager fails after that until it is given a new one")
                return now.addingTimeInterval(3600)
            }
            dropLease(ifHolding: held.token)
            return now
        }
        do {
            let response = try send("POST", "auth/token/renew-self", body: SecureBytes(copying: Array("{}".utf8)), query: nil, token: held.token)
            guard response.status == 200 else { throw Self.error(response, "token renewal") }
            let renewed = try Self.lease(from: response.body, at: "auth", tokenField: nil, what: "token renewal", token: held.token)
            // A renewal that no longer extends the lease to a full TTL has met the max TTL.
            let next = TokenLease(token: held.token, ttl: renewed.ttl, renewable: renewed.renewable, grantedTTL: held.grantedTTL,
                                  reachedMaximum: renewed.ttl + 1 < held.grantedTTL)
            lease.update { $0?.token === held.token ? next : $0 }
            logger.debug("renewed the Vault token", metadata: ["ttl": "\(renewed.ttl)", "max-reached": "\(next.reachedMaximum)"])
            return now
        } catch let error as VaultError where error.kind == .permissionDenied || error.kind == .badRequest {
            if case .appRole = auth {
                dropLease(ifHolding: held.token)
                return now
            }
            reportOnce("renew", "the Vault token cannot be renewed (\(error.description)); it expires at \(held.expires.map { $0.formatted(.iso8601) } ?? "-")")
            lease.update { current in
                guard var current, current.token === held.token else { return current }
                current.renewable = false
                return current
            }
            return now.addingTimeInterval(3600)
        } catch {
            // Vault did not answer: try again soon, well before the lease runs out.
            logger.warning("Vault token renewal failed; retrying", metadata: ["error": "\(error)"])
            let left = held.expires.map { $0.timeIntervalSince(now) } ?? 60
            return now.addingTimeInterval(max(1, min(5, left / 4)))
        }
    }

    /// Looks an operator's token up for its TTL and renewability.
    private func learnLease(of token: SecureBytes) throws {
        let response = try send("GET", "auth/token/lookup-self", body: SecureBytes(), query: nil, token: token)
        if response.status == 403 {
            throw VaultError(kind: .invalidToken, description: "Vault rejected the token (invalid, expired or revoked)")
        }
        guard response.status == 200 else { throw Self.error(response, "token lookup") }
        let learned = try Self.lease(from: response.body, at: "data", tokenField: nil, what: "token lookup", token: token)
        lease.update { _ in learned }
        if learned.ttl > 0 && !learned.renewable {
            reportOnce("renewable", "the Vault token is not renewable; it expires at \(learned.expires.map { $0.formatted(.iso8601) } ?? "-") and the manager fails after that until it is given a new one")
        }
    }

    private var renewInterval: Double? {
        if case .token(_, let interval) = auth { return interval }
        return nil
    }

    /// Logs `message` once per `topic` for the life of the client.
    private func reportOnce(_ topic: String, _ message: String) {
        guard reported.withLock({ $0.insert(topic).inserted }) else { return }
        logger.error("\(message)")
    }
}

/// A token and what Vault said of its life.
struct TokenLease {
    let token: SecureBytes
    /// Seconds the token lives from `obtained`; 0 for a token that never expires (a root token).
    let ttl: TimeInterval
    var renewable: Bool
    let obtained: Date
    /// The TTL the token was first granted, which a renewal gives again until the max TTL caps it.
    let grantedTTL: TimeInterval
    /// A renewal came back shorter than `grantedTTL`: the max TTL is near, and renewing is over.
    let reachedMaximum: Bool

    init(token: SecureBytes, ttl: TimeInterval, renewable: Bool, grantedTTL: TimeInterval? = nil, reachedMaximum: Bool = false) {
        self.token = token
        self.ttl = ttl
        self.renewable = renewable
        obtained = Date()
        self.grantedTTL = grantedTTL ?? ttl
        self.reachedMaximum = reachedMaximum
    }

    /// When the lease ends; nil for a token that never expires.
    var expires: Date? { ttl > 0 ? obtained.addingTimeInterval(ttl) : nil }

    /// Whether a request may still use the token: a second before it expires, it may not.
    func isUsable(at date: Date) -> Bool {
        expires.map { $0.timeIntervalSince(date) > 1 } ?? true
    }

    /// When to renew (or log in again): two thirds into the lease, or the configured interval if sooner.
    func renewalDue(renewInterval: Double?) -> Date? {
        var due = expires.map { _ in obtained.addingTimeInterval(ttl * 2 / 3) }
        if let renewInterval, renewable { due = min(due ?? .distantFuture, obtained.addingTimeInterval(renewInterval)) }
        return due
    }
}

/// Wakes the keeper thread early (a new lease) and stops it (the client is gone).
final class KeeperWake: @unchecked Sendable {
    // Unchecked: `stopped` and `signalled` are guarded by `condition`.
    private let condition = NSCondition()
    private var stopped = false
    private var signalled = false

    /// Sleeps until `date`, a signal or a stop; false once stopped.
    func sleep(until date: Date) -> Bool {
        condition.withLock {
            while !stopped && !signalled && condition.wait(until: date) {}
            signalled = false
            return !stopped
        }
    }

    func signal() { condition.withLock { signalled = true; condition.signal() } }

    func stop() { condition.withLock { stopped = true; condition.signal() } }
}
