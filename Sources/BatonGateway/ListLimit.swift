import BatonCore

/// The `limit` query parameter of a list endpoint (`GET /v1/jobs`, `GET /v1/dead-letters`):
/// nil when absent, else a whole number in `1...max`; anything else is a 400 problem.
func listLimit(_ text: Substring?, max: Int) throws -> Int? {
    guard let text else { return nil }
    guard let value = Int(text), (1...max).contains(value) else {
        throw Problem.badRequest("'limit' must be 1...\(max).")
    }
    return value
}
