/// The resolver worker (DESIGN.md, "Resolution (Worker)").
///
/// Not implemented yet: resolution comes with the Worker issue.
public enum WorkerStatus {
    public static let implemented = false
}
