package witness_test

import (
	"context"
	"fmt"
	"testing"

	"shopwatch/evidence/witness"
)

// BenchmarkCheckpointWithWitness measures what a witness on loopback adds
// to a checkpoint: "checkpoint" appends a leaf and makes a signed,
// timestamped checkpoint (the baseline); "checkpoint+witness" also
// submits it to the witness (GET its latest, a consistency proof, POST,
// the witness's fsync, the co-signature kept with an fsync). Compare the
// two in the same run.
func BenchmarkCheckpointWithWitness(b *testing.B) {
	ctx := context.Background()
	for _, withWitness := range []bool{false, true} {
		name := "checkpoint"
		if withWitness {
			name = "checkpoint+witness"
		}
		b.Run(name, func(b *testing.B) {
			lg := newLogB(b)
			var node *witness.Node
			if withWitness {
				w, srv := startWitnessB(b, lg.PublicKey())
				var err error
				node, err = witness.NewNode(lg, b.TempDir(), []*witness.Client{{URL: srv.URL, KeyID: w.KeyID()}}, witness.WithNodeLogger(quiet))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := lg.Append(ctx, []byte(fmt.Sprintf("sha256:%064x", i+1))); err != nil {
					b.Fatal(err)
				}
				if _, err := lg.Checkpoint(ctx); err != nil {
					b.Fatal(err)
				}
				if node != nil {
					if err := node.Submit(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
