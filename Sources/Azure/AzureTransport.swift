import Foundation
import HTTP

// Sending to one Azure service (Entra ID, the metadata service, one vault), with its retries.
//
// Invariants:
// - HTTP 5xx is retried with full jitter (up to 100 ms · 2^attempt) at most `attempts` times in all.
// - HTTP 429 is retried after the `Retry-After` the service sent (or the same jittered backoff
//   without one), as long as all the waiting fits in one request timeout; a longer wait fails at
//   once as `throttled`, naming the wait, so a throttled read neither hangs nor hammers.
// - No answer (refused, timed out) is not retried: the circuit breaker opens, and requests fail
//   fast for a short backoff, so an outage costs one timeout, not one per request.
// - One call reports one outcome to the breaker, after its retries.

/// Sends requests to one Azure service with retries, bounded timeouts and a circuit breaker.
final class AzureTransport: Sendable {
    let http: HTTPClient
    /// How the service is named in messages, e.g. "Key Vault at myvault.vault.azure.net".
    let service: String
    let timeout: Double
    let attempts: Int
    let maximumResponseSize: Int
    private let breaker = CircuitBreaker()

    init(http: HTTPClient, service: String, timeout: Double, attempts: Int = 3, maximumResponseSize: Int = 1024 * 1024) {
        self.http = http
        self.service = service
        self.timeout = timeout
        self.attempts = attempts
        self.maximumResponseSize = maximumResponseSize
    }

    /// Sends `request` for the operation named by `what`; returns any answer but 429, and 5xx only after the retries.
    func send(_ request: HTTPRequest, what: String) throws -> HTTPResponse {
        if let refusal = breaker.admit() {
            throw AzureError(kind: .unreachable, description: "\(service) is not answering (\(refusal.reason)); next try in \(String(format: "%.1f", refusal.retryIn)) s")
        }
        let waitingEnds = Date().addingTimeInterval(timeout)
        var attempt = 0
        while true {
            attempt += 1
            let response: HTTPResponse
            do {
                response = try http.send(request, timeout: timeout, maximumResponseSize: maximumResponseSize)
            } catch let error as HTTPError where error.code == .invalidRequest {
                breaker.abandoned()
                throw AzureError(kind: .other, description: "request to \(service) not sent: \(error.description)")
            } catch let error as HTTPError where error.code == .responseTooLarge {
                breaker.succeeded()
                throw AzureError(kind: .tooLarge, description: "\(service) answered the \(what) with more than \(maximumResponseSize) bytes")
            } catch let error as HTTPError {
                breaker.failed(error.description)
                throw AzureError(kind: .unreachable, description: "\(service) unreachable: \(error.description)")
            } catch {
                breaker.abandoned()
                throw error
            }
            if response.status == 429 {
                let asked = RetryAfter.seconds(response.headers["retry-after"])
                let wait = asked ?? Self.backoff(attempt)
                if Date().addingTimeInterval(wait) <= waitingEnds {
                    Thread.sleep(forTimeInterval: wait)
                    continue
                }
                breaker.succeeded()
                let said = asked.map { "asked to wait \(Int($0.rounded(.up))) s (Retry-After)" } ?? "kept throttling"
                throw AzureError(kind: .throttled, description: "\(what) was throttled by \(service) (HTTP 429), which \(said): more than the \(Int(timeout)) s a request may take; try again later")
            }
            if response.status >= 500 && attempt < attempts {
                Thread.sleep(forTimeInterval: Self.backoff(attempt))
                continue
            }
            if response.status >= 500 {
                breaker.failed("HTTP \(response.status)")
            } else {
                breaker.succeeded()
            }
            return response
        }
    }

    /// Full jitter: a random wait up to 100 ms · 2^attempt.
    static func backoff(_ attempt: Int) -> TimeInterval {
        Double.random(in: 0...(0.1 * pow(2, Double(min(attempt, 6)))))
    }
}
