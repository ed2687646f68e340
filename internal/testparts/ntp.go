package testparts

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// NTPServer is a minimal SNTP server (RFC 4330 server mode) on a loopback
// UDP port whose clock runs Offset ahead of the host's (behind when
// negative). It answers each 48-byte client request with a 48-byte reply:
// stratum 1, reference "LOCL", the client's transmit time echoed as the
// origin. With Unsynced the leap indicator says "not synchronised".
type NTPServer struct {
	Addr string // "127.0.0.1:port"
}

// StartNTPServer serves until the test ends.
func StartNTPServer(tb testing.TB, offset time.Duration, unsynced bool) *NTPServer {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			recv := time.Now().Add(offset)
			reply := make([]byte, 48)
			li := byte(0)
			if unsynced {
				li = 3
			}
			reply[0] = li<<6 | 4<<3 | 4 // version 4, mode 4 (server)
			reply[1] = 1                // stratum 1
			reply[2] = buf[2]           // poll, as asked
			reply[3] = 0xec             // precision 2^-20 s
			copy(reply[12:16], "LOCL")
			putNTPTime(reply[16:24], recv.Add(-time.Minute)) // reference time
			copy(reply[24:32], buf[40:48])                   // origin: the client's transmit time
			putNTPTime(reply[32:40], recv)
			putNTPTime(reply[40:48], time.Now().Add(offset))
			if _, err := pc.WriteTo(reply, from); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		pc.Close()
		<-done
	})
	return &NTPServer{Addr: pc.LocalAddr().String()}
}

// putNTPTime writes t as a 64-bit NTP timestamp (seconds since 1900 and a
// binary fraction).
func putNTPTime(b []byte, t time.Time) {
	const epoch = 2208988800 // seconds from 1900 to 1970
	sec := uint64(t.Unix()) + epoch
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	binary.BigEndian.PutUint64(b, sec<<32|frac)
}
