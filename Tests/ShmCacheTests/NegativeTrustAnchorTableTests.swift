import DNSCore
import Testing
@testable import ShmCache

/// The run-time negative trust anchors in the header page (`shoalctl nta`).
@Suite struct NegativeTrustAnchorTableTests {
    @Test("added names are seen by another attach, lowercased, once each; removed ones go; the table holds 13")
    func addListRemove() throws {
        try withSegment("nta") { seg, name in
            let table = seg.negativeTrustAnchors
            #expect(table.read().entries.isEmpty && table.read().complete)   // a fresh segment: empty
            #expect(try table.add(dn("Broken.Example."), now: 1000))
            #expect(try !table.add(dn("broken.example."), now: 1001))       // there already
            #expect(try table.add(dn("other.test."), now: 1002))
            let other = try SharedSegment.attach(name: name)
            let seen = other.negativeTrustAnchors.read().entries
            #expect(Set(seen.map(\.name.presentation)) == ["broken.example.", "other.test."])
            #expect(seen.first { $0.name == dn("broken.example.") }?.addedAt == 1000)
            #expect(other.negativeTrustAnchors.remove(dn("BROKEN.example.")))
            #expect(!other.negativeTrustAnchors.remove(dn("broken.example.")))
            #expect(table.read().entries.map(\.name) == [dn("other.test.")])
            // Full at 13; a removal makes room again.
            for i in 1..<NegativeTrustAnchorTable.capacity { try table.add(dn("n\(i).test."), now: 1) }
            #expect(throws: NegativeTrustAnchorTable.AddError.full) { try table.add(dn("one-more.test."), now: 1) }
            #expect(table.remove(dn("n3.test.")))
            #expect(try table.add(dn("one-more.test."), now: 1))
            #expect(table.read().entries.count == NegativeTrustAnchorTable.capacity)
            // The rest of the segment is untouched: the header still reads as before.
            #expect(try SharedSegment.attach(name: name).generation == seg.generation)
        }
    }

    @Test("a view answers the closest covering anchor and notices changes by the change count")
    func view() throws {
        try withSegment("nta-view") { seg, name in
            let view = NegativeTrustAnchorView(try SharedSegment.attach(name: name).negativeTrustAnchors)
            #expect(view.covering(dn("www.broken.example.")) == nil)
            let before = seg.negativeTrustAnchors.changeCount
            try seg.negativeTrustAnchors.add(dn("broken.example."), now: 1)
            #expect(seg.negativeTrustAnchors.changeCount != before)
            #expect(view.covering(dn("WWW.Broken.Example.")) == dn("broken.example."))
            #expect(view.covering(dn("example.")) == nil)
            try seg.negativeTrustAnchors.add(dn("www.broken.example."), now: 1)
            #expect(view.covering(dn("a.www.broken.example.")) == dn("www.broken.example."))
            seg.negativeTrustAnchors.remove(dn("broken.example."))
            seg.negativeTrustAnchors.remove(dn("www.broken.example."))
            #expect(view.covering(dn("a.www.broken.example.")) == nil)
        }
    }

    @Test("an entry left busy by a writer that died is skipped by readers and taken over by the next writer")
    func deadWriter() throws {
        try withSegment("nta-dead") { seg, _ in
            let table = seg.negativeTrustAnchors
            try table.add(dn("kept.test."), now: 1)
            // Entry 1 as a writer killed in the middle of an add leaves it.
            let word = (seg.header + NegativeTrustAnchorTable.entriesOffset + NegativeTrustAnchorTable.entryBytes)
                .assumingMemoryBound(to: UInt64.self)
            word.pointee = 4 << 2 | NegativeTrustAnchorTable.busy
            let r = table.read()
            #expect(r.entries.map(\.name) == [dn("kept.test.")] && !r.complete)
            #expect(try table.add(dn("new.test."), now: 2))
            #expect(Set(table.read().entries.map(\.name)) == [dn("kept.test."), dn("new.test.")])
            #expect(table.read().complete)
        }
    }
}
