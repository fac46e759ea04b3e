import CNATS

/// The fleet bridge (DESIGN.md, "Fleet sync").
///
/// Not implemented yet; this file only proves the libnats system-library target links.
public enum MeshBridgeStatus {
    public static let implemented = false
    /// Version of the linked NATS C client.
    public static var natsClientVersion: String { String(cString: nats_GetVersion()) }
}
