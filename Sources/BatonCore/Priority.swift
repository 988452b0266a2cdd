/// Scheduling priority of a durable job (the last token of its subject).
public enum Priority: String, Sendable, CaseIterable, Codable {
    case high, normal, low
}
