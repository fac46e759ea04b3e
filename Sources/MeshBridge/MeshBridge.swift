import CNATS

/// The fleet bridge (DESIGN.md, "Fleet sync"): ``Bridge`` runs it, ``BatchEncoder`` and
/// ``BatchDecoder`` are its wire format (docs/mesh-format.md), ``NATSConnection`` its link.
public enum MeshBridgeStatus {
    /// Version of the linked NATS C client.
    public static var natsClientVersion: String { String(cString: nats_GetVersion()) }
}
