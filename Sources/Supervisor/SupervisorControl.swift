import DNSCore
import Foundation
import ShmCache
import ShoalSystem

/// What shoald does with control requests: status, hot replace of workers (make before
/// break), reload, cache wipes.
extension Supervisor {
    /// Seconds a replacement has to become ready before it is given up (the old worker stays).
    static let replaceTimeoutSeconds = 15.0

    func serve(_ request: ControlRequest, for client: ControlServer.Client) {
        guard stopDeadline == nil else { return reply(client, "error: shoald is stopping") }
        switch request {
        case .ping: reply(client, "ok\npong")
        case .version: reply(client, "ok\nshoald \(ShoalVersion.string)")
        case let .status(json): reply(client, "ok\n" + (json ? statusJSON() : statusText()))
        case let .restartWorker(slot):
            guard let i = workers.firstIndex(where: { $0.placement.slot == slot }) else {
                return reply(client, "error: no worker slot \(slot) (slots 0..<\(workers.count))")
            }
            guard rolling == nil else { return reply(client, "error: a rolling restart is in progress") }
            beginReplace(i, client: client)
        case .restartWorkers:
            startRolling("restart-workers", client: client)
        case .reload:
            reload(answering: client)
        case let .wipeCache(name, subtree):
            guard let n = domainName(name, client) else { return }
            let removed = wipe(n, subtree: subtree)
            logger.notice("wipe-cache \(n)\(subtree ? " and below" : ""): \(removed) entries removed")
            reply(client, "ok\n\(removed) entries removed")
        case let .ntaAdd(name):
            guard let n = domainName(name, client) else { return }
            let added: Bool
            do { added = try segment.negativeTrustAnchors.add(n, now: UInt64(shmNow())) } catch {
                return reply(client, "error: \(error)")
            }
            guard added else { return reply(client, "ok\n\(n.lowercased) is a negative trust anchor already") }
            // What was cached under validation (bogus verdicts among it) goes: resolved again, insecure.
            let removed = wipe(n, subtree: true)
            logger.notice("nta add \(n.lowercased): not validated at and below it; \(removed) cache entries removed")
            reply(client, "ok\nadded \(n.lowercased) (\(removed) cache entries at and below it removed)")
        case let .ntaRemove(name):
            guard let n = domainName(name, client) else { return }
            guard segment.negativeTrustAnchors.remove(n) else {
                return reply(client, "error: \(n.lowercased) is not a negative trust anchor")
            }
            // What was cached insecure under the anchor goes: validated again.
            let removed = wipe(n, subtree: true)
            logger.notice("nta remove \(n.lowercased): validated again; \(removed) cache entries removed")
            reply(client, "ok\nremoved \(n.lowercased) (\(removed) cache entries at and below it removed)")
        case .ntaList:
            let entries = segment.negativeTrustAnchors.read().entries.sorted { $0.name < $1.name }
            reply(client, "ok\n" + entries.map { "\($0.name.presentation) added \(Self.isoTime($0.addedAt))\n" }.joined())
        }
    }

    /// `name` as a domain name (a missing final dot added), or nil after replying the error.
    private func domainName(_ name: String, _ client: ControlServer.Client) -> DNSName? {
        do { return try DNSName(name.hasSuffix(".") ? name : name + ".") } catch {
            reply(client, "error: '\(name)' is not a domain name: \(error)")
            return nil
        }
    }

    /// Removes `n` (and with `subtree` every name below it) from the record, negative and
    /// packet caches; returns how many entries went.
    private func wipe(_ n: DNSName, subtree: Bool) -> Int {
        segment.records.removeNames(at: n, subtree: subtree)
            + segment.negative.removeNames(at: n, subtree: subtree)
            + segment.packets.removeNames(at: n, subtree: subtree)
    }

    /// Wall-clock seconds as UTC ISO 8601.
    static func isoTime(_ seconds: UInt64) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    func reply(_ client: ControlServer.Client, _ text: String) {
        control?.reply(client, text)
    }

    // MARK: Hot replace

    /// Starts a new worker on slot `i`'s sockets; the old one drains once the new one is ready
    /// (``progressReplacements(now:)``). A dead slot is simply started.
    func beginReplace(_ i: Int, client: ControlServer.Client?) {
        let slot = workers[i].placement.slot
        if workers[i].replacement != nil {
            if let client { workers[i].replacement!.clients.append(client) }
            return
        }
        guard workers[i].pid != nil else {
            spawn(i)
            if let client { reply(client, "ok\nslot \(slot): started pid \(workers[i].pid.map(String.init) ?? "-")") }
            replacementDone(i)
            return
        }
        do {
            let pid = try startProcess(workers[i].placement)
            workers[i].replacement = Replacement(pid: pid, startedAt: Clock.monotonicSeconds(),
                                                 clients: client.map { [$0] } ?? [])
            logger.notice("worker slot \(slot): hot replace, new pid \(pid) starting beside pid \(workers[i].pid!)")
        } catch {
            if let client { reply(client, "error: slot \(slot): cannot start a worker: \(error)") }
            replacementDone(i)
        }
    }

    /// Hands a slot over to its replacement once the replacement says it listens (its pid in
    /// the slot's ready word): the old worker gets SIGTERM and drains.
    func progressReplacements(now: Double) {
        for i in workers.indices {
            guard let r = workers[i].replacement else { continue }
            let slot = workers[i].placement.slot
            if segment.stats(workerSlot: slot).value(.readyPID) == UInt64(r.pid) {
                let old = workers[i].pid
                if let old {
                    kill(old, SIGTERM)
                    draining[old] = slot
                }
                workers[i].pid = r.pid
                workers[i].startedAt = now
                workers[i].restarts += 1
                workers[i].restartReasons["replace", default: 0] += 1
                workers[i].replacement = nil
                let what = "slot \(slot): pid \(old.map(String.init) ?? "-") replaced by pid \(r.pid)"
                logger.notice("worker \(what)")
                for c in r.clients { reply(c, "ok\n\(what)") }
                replacementDone(i)
            } else if now - r.startedAt > Self.replaceTimeoutSeconds {
                kill(r.pid, SIGKILL)
                draining[r.pid] = slot   // reaped as a replaced process, not restarted
                replacementFailed(i, "the new worker pid \(r.pid) was not ready within \(Int(Self.replaceTimeoutSeconds)) s; killed, the old one serves on")
            }
        }
    }

    func replacementFailed(_ i: Int, _ why: String) {
        let slot = workers[i].placement.slot
        logger.error("worker slot \(slot): hot replace failed: \(why)")
        for c in workers[i].replacement?.clients ?? [] { reply(c, "error: slot \(slot): \(why)") }
        workers[i].replacement = nil
        if workers[i].pid == nil && workers[i].restartAt == nil { scheduleRestartNow(i) }
        if let r = rolling {
            for c in r.clients { reply(c, "error: \(r.what) stopped at slot \(slot): \(why)") }
            rolling = nil
            reloadEnded("reload stopped at slot \(slot): \(why)")
        }
    }

    private func scheduleRestartNow(_ i: Int) {
        workers[i].restartAt = Clock.monotonicSeconds()
    }

    /// After a slot's replacement: the next of a rolling restart, or its answer.
    func replacementDone(_ i: Int) {
        guard var r = rolling else { return }
        if let next = r.left.first {
            r.left.removeFirst()
            rolling = r
            beginReplace(next, client: nil)
        } else {
            rolling = nil
            for c in r.clients { reply(c, "ok\n\(r.what): \(workers.count) worker(s) now, replaced one by one") }
            reloadEnded(nil)
        }
    }

    /// Replaces workers 0..<count (default all) one after the other.
    func startRolling(_ what: String, client: ControlServer.Client?, count: Int? = nil) {
        guard rolling == nil, workers.allSatisfy({ $0.replacement == nil }) else {
            if let client { reply(client, "error: a restart is already in progress") }
            return
        }
        let n = min(count ?? workers.count, workers.count)
        guard n > 0 else {
            if let client { reply(client, "ok\n\(what): \(workers.count) worker(s)") }
            return
        }
        rolling = (left: Array(1..<n), clients: client.map { [$0] } ?? [], what: what)
        beginReplace(0, client: nil)
    }

    // MARK: Reload

    /// Re-reads the configuration. A bad file changes nothing; changes that need new sockets
    /// or another segment need a restart of shoald; otherwise every worker is replaced hot, one
    /// at a time, and reads the new file as it starts (ACL, limits, log level, …).
    func reload(answering client: ControlServer.Client?) {
        func fail(_ why: String) {
            logger.error("reload refused: \(why); the running configuration is kept")
            if let client { reply(client, "error: \(why); the running configuration is kept") }
        }
        guard let reloadSettings else { return fail("no configuration file to reload") }
        let new: SupervisorSettings
        do { new = try reloadSettings() } catch { return fail("\(error)") }
        guard new.worker.listen == configuredListen else {
            return fail("listen changed (\(configuredListen.joined(separator: ", ")) → \(new.worker.listen.joined(separator: ", "))): restart shoald")
        }
        guard new.worker.segment == configuredSegment else { return fail("segment changed: restart shoald") }
        guard rolling == nil, workers.allSatisfy({ $0.replacement == nil }) else {
            return fail("a restart is already in progress")
        }
        // The worker count and placement, as at start: from the topology and this process's affinity.
        let plan: PlacementPlan
        do {
            plan = try PlacementPlan.make(new.placementRequest, topology: try Topology.read(),
                                          allowed: try CPUList.allowedForThisProcess())
        } catch { return fail("\(error)") }
        guard plan.workers.count <= segment.geometry.workerSlots else {
            return fail("\(plan.workers.count) workers, but the segment has \(segment.geometry.workerSlots) worker slots")
        }
        for w in plan.warnings { logger.warning("placement: \(w)") }
        let old = workers.count
        if plan.workers.count > old {
            // More slots: their sockets join each address's SO_REUSEPORT group, their workers start.
            do {
                let added = try Listeners.open(configuredListen, slots: old..<plan.workers.count, sharingTCP: sockets.first?.tcp)
                for s in added { for o in s.opened { serviceManager?.store(o.fd, name: o.name) } }
                sockets += added
            } catch { return fail("cannot open the new slots' sockets: \(error)") }
            for p in plan.workers[old...] {
                workers.append(WorkerState(placement: p))
                spawn(workers.count - 1)
            }
        } else if plan.workers.count < old {
            // Fewer: the extra workers drain and exit; their sockets close with them (what is
            // queued on those sockets at that moment is lost: the kernel does not move it).
            for i in (plan.workers.count..<old).reversed() {
                if let pid = workers[i].pid { kill(pid, SIGTERM); draining[pid] = workers[i].placement.slot }
                if let r = workers[i].replacement { kill(r.pid, SIGTERM); draining[r.pid] = workers[i].placement.slot }
                workers.remove(at: i)
                for name in sockets[i].storeNames { serviceManager?.removeStored(name: name) }
                sockets.remove(at: i)
            }
        }
        for i in 0..<min(old, plan.workers.count) { workers[i].placement = plan.workers[i] }
        logger.notice("reload: configuration valid; \(old) → \(workers.count) worker(s); replacing the kept ones one by one")
        if serviceManager != nil {
            serviceManager?.reloading()
            reloadAnnounced = true
        }
        startRolling("reload", client: client, count: min(old, plan.workers.count))
    }

    // MARK: Status

    /// Follows a segment that was replaced (`shoalctl segment recreate`, or its name removed):
    /// the workers exit on their own (status 75) and restart on the current one; shoald reads
    /// statistics and heartbeats from the current one too.
    func checkSegment() {
        guard let why = segment.replacedReason() else { return segmentIsCurrent = true }
        segmentIsCurrent = false
        guard let reopenSegment else { return }
        do {
            segment = try reopenSegment()
            metrics.segment = segment
            segmentIsCurrent = true
            logger.warning("\(why): now on \(segment.name) generation \(segment.generation); the workers restart on it")
            for i in workers.indices { workers[i].lastQueries = 0 }
        } catch {
            logger.error("\(why), and it cannot be opened again: \(error)")
        }
    }

    func sample(now: Double) {
        guard now - lastSample >= 1 else { return }
        checkSegment()
        for i in workers.indices {
            let q = segment.stats(workerSlot: workers[i].placement.slot).value(.queries)
            workers[i].queriesPerSecond = Double(q &- workers[i].lastQueries) / (now - lastSample)
            workers[i].lastQueries = q
        }
        lastSample = now
        let running = workers.filter { $0.pid != nil }.count
        var restarts: [PrometheusText.WorkerRestartKey: Int] = [:]
        for w in workers {
            for (reason, n) in w.restartReasons { restarts[.init(slot: w.placement.slot, reason: reason)] = n }
        }
        metrics.update { $0.workersRunning = running; $0.restarts = restarts }
    }

    struct Status: Codable {
        struct Worker: Codable {
            var slot: Int, pid: Int32?, cpu: Int, node: Int, uptimeSeconds: Int, restarts: Int
            var restartReasons: [String: Int], queriesPerSecond: Double, lastExit: String?
        }
        struct Table: Codable { var entries: Int, capacity: Int }
        var version: String, pid: Int32, uptimeSeconds: Int, segment: String, generation: UInt64
        var tables: [String: Table], reclaimedSlots: UInt64, workers: [Worker], bridge: String
    }

    func status() -> Status {
        let now = Clock.monotonicSeconds(), t = shmNow()
        let r = segment.records.count(now: t), n = segment.negative.count(now: t), p = segment.packets.count(now: t)
        return Status(
            version: ShoalVersion.string, pid: getpid(), uptimeSeconds: Int(now - startedAt), segment: segment.name,
            generation: segment.generation,
            tables: ["records": .init(entries: r.entries, capacity: segment.records.capacity),
                     "negative": .init(entries: n.entries, capacity: segment.negative.capacity),
                     "packets": .init(entries: p.entries, capacity: segment.packets.capacity)],
            reclaimedSlots: segment.reclaimedSlots,
            workers: workers.map { w in
                .init(slot: w.placement.slot, pid: w.pid, cpu: w.placement.cpu, node: w.placement.node,
                      uptimeSeconds: w.pid == nil ? 0 : Int(now - w.startedAt), restarts: w.restarts,
                      restartReasons: w.restartReasons, queriesPerSecond: (w.queriesPerSecond * 10).rounded() / 10,
                      lastExit: w.lastExit?.description)
            },
            bridge: bridgeDescription)
    }

    func statusJSON() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(status())).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    func statusText() -> String {
        let s = status()
        var out = ["shoald \(s.version), pid \(s.pid), up \(s.uptimeSeconds) s",
                   "segment \(s.segment), generation \(s.generation): "
                       + s.tables.keys.sorted().map { "\($0) \(s.tables[$0]!.entries)/\(s.tables[$0]!.capacity)" }.joined(separator: ", ")
                       + "; reclaimed slots \(s.reclaimedSlots)",
                   "slot  pid       cpu  node  up s    restarts  queries/s  last exit"]
        for w in s.workers {
            func col(_ v: String, _ n: Int) -> String { v + String(repeating: " ", count: max(1, n - v.count)) }
            out.append(col("\(w.slot)", 6) + col(w.pid.map(String.init) ?? "-", 10) + col("\(w.cpu)", 5) + col("\(w.node)", 6)
                       + col("\(w.uptimeSeconds)", 8) + col("\(w.restarts)", 10) + col("\(w.queriesPerSecond)", 11)
                       + (w.lastExit ?? "-"))
        }
        out.append("bridge: \(s.bridge)")
        return out.joined(separator: "\n")
    }
}
