import BatonCore

extension JobStore {
    /// Moves a job's `held` webhook to `state` by compare-and-set, and says whether this call
    /// moved it. While a client waits synchronously its job's webhook is held, and two parties
    /// race to settle it: the gateway that holds the call (`skipped`: the client got the answer;
    /// `pending`: the call switched to `202`) and the webhook dispatcher once the hold has ended
    /// (`pending`, then it delivers). Whoever moves it first decides; `false` means another
    /// party settled it first (or the job has no record or no held webhook).
    public func settleHeldWebhook(_ id: String, to state: WebhookStatus.State) async throws -> Bool {
        let moved = try await update(id, by: .gateway) { record in
            guard record.webhook?.state == .held else { return false }
            record.webhook?.state = state
            return true
        }
        return moved != nil
    }
}
