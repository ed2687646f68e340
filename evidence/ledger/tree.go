package ledger

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

var hasher = rfc6962.DefaultHasher

const hashSize = 32

// tree keeps the hash of every perfect subtree of an append-only RFC 6962
// tree: levels[0] the leaf hashes, levels[k] the roots of the perfect
// subtrees of 2^k leaves, each level a flat array of 32-byte hashes. It
// takes about 64 bytes per leaf and answers roots and proofs for any size
// up to the current one in O(log n) hashes. It is not safe for concurrent
// use.
type tree struct {
	size   uint64
	levels [][]byte
}

// append adds one leaf hash.
func (t *tree) append(leafHash []byte) {
	idx := t.size
	t.push(0, leafHash)
	for level := uint(0); idx&1 == 1; level++ {
		parent := hasher.HashChildren(t.node(level, idx-1), t.node(level, idx))
		idx >>= 1
		t.push(level+1, parent)
	}
	t.size++
}

func (t *tree) push(level uint, h []byte) {
	for uint(len(t.levels)) <= level {
		t.levels = append(t.levels, nil)
	}
	t.levels[level] = append(t.levels[level], h...)
}

// node returns the stored hash of a perfect subtree; the caller must not
// modify it.
func (t *tree) node(level uint, index uint64) []byte {
	off := index * hashSize
	return t.levels[level][off : off+hashSize : off+hashSize]
}

func (t *tree) nodeOf(id compact.NodeID) []byte { return t.node(id.Level, id.Index) }

// leafHash returns the hash of leaf i (< size).
func (t *tree) leafHash(i uint64) []byte { return bytes.Clone(t.node(0, i)) }

// root returns the root hash of the first size leaves (size <= t.size).
func (t *tree) root(size uint64) []byte {
	if size == 0 {
		return hasher.EmptyRoot()
	}
	// The perfect subtrees covering [0, size), largest (leftmost) first;
	// fold them from the right.
	ids := compact.RangeNodes(0, size, nil)
	acc := bytes.Clone(t.nodeOf(ids[len(ids)-1]))
	for i := len(ids) - 2; i >= 0; i-- {
		acc = hasher.HashChildren(t.nodeOf(ids[i]), acc)
	}
	return acc
}

// inclusion returns the audit path of leaf index in the tree of size
// leaves.
func (t *tree) inclusion(index, size uint64) ([][]byte, error) {
	if size > t.size {
		return nil, fmt.Errorf("tree size %d beyond the %d leaves held", size, t.size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

// consistency returns the RFC 6962 consistency proof from the tree of size1
// leaves to the tree of size2 leaves.
func (t *tree) consistency(size1, size2 uint64) ([][]byte, error) {
	if size2 > t.size {
		return nil, fmt.Errorf("tree size %d beyond the %d leaves held", size2, t.size)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

func (t *tree) rehash(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		hashes[i] = bytes.Clone(t.nodeOf(id))
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}
