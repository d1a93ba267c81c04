package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"
)

const (
	opMsg        = 2013
	moreToCome   = 1 << 1
	headerLength = 16
	maxMessage   = 48 * 1024 * 1024
)

// writeCommands change documents; the proxy runs them one at a time.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
}

// writeLocks: one per database, held from a write command's request until its
// reply. FerretDB loses concurrent updates of one document; its SQLite backend
// keeps each database in a file of its own, so writes to different databases
// (the services each have theirs) need not wait for each other.
var writeLocks sync.Map // database name -> *sync.Mutex

func writeLock(db string) *sync.Mutex {
	lock, _ := writeLocks.LoadOrStore(db, &sync.Mutex{})
	return lock.(*sync.Mutex)
}

func serveWriteSerialisingProxy(ctx context.Context, listen, backendSocket string) error {
	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		listener.Close()
	}()
	for {
		client, err := listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go proxyConnection(client, backendSocket)
	}
}

// proxyConnection relays one client connection. Drivers send one request and
// wait for its reply on a connection, so a strict request/reply loop suffices;
// requests flagged moreToCome get no reply.
func proxyConnection(client net.Conn, backendSocket string) {
	defer client.Close()
	var backend net.Conn
	var err error
	for attempt := 0; attempt < 50; attempt++ { // FerretDB may still be starting
		if backend, err = net.Dial("unix", backendSocket); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		log.Printf("proxy: backend unavailable: %v", err)
		return
	}
	defer backend.Close()

	for {
		request, err := readMessage(client)
		if err != nil {
			return
		}
		write, noReply, db := classify(request)
		if write {
			writeLock(db).Lock()
		}
		err = relay(request, backend, client, noReply)
		if write {
			writeLock(db).Unlock()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Printf("proxy: %v", err)
			}
			return
		}
	}
}

func relay(request []byte, backend, client net.Conn, noReply bool) error {
	if _, err := backend.Write(request); err != nil {
		return err
	}
	if noReply {
		return nil
	}
	reply, err := readMessage(backend)
	if err != nil {
		return err
	}
	_, err = client.Write(reply)
	return err
}

func readMessage(conn net.Conn) ([]byte, error) {
	header := make([]byte, headerLength)
	if _, err := io.ReadFull(conn, header); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < headerLength || length > maxMessage {
		return nil, fmt.Errorf("bad message length %d", length)
	}
	message := make([]byte, length)
	copy(message, header)
	if _, err := io.ReadFull(conn, message[headerLength:]); err != nil {
		return nil, err
	}
	return message, nil
}

// classify says whether an OP_MSG carries a write command (the first key of
// its body document names the command), whether it expects no reply, and the
// database it addresses (its `$db`; "" when unsure, which shares one lock).
func classify(message []byte) (write, noReply bool, db string) {
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) < headerLength+4+1+5+2 {
		return false, false, ""
	}
	flags := binary.LittleEndian.Uint32(message[16:20])
	noReply = flags&moreToCome != 0
	// sections follow the flags; kind 0 is the body document
	pos := 20
	if message[pos] != 0 {
		return true, noReply, "" // not the usual shape: be safe, serialise it
	}
	doc := message[pos+1:]
	first := true
	for name, value := range topLevel(doc) {
		if first {
			first = false
			if !writeCommands[name] {
				return false, noReply, ""
			}
			write = true
		}
		if name == "$db" && len(value) > 5 {
			return true, noReply, string(value[4 : len(value)-1]) // int32 length, bytes, NUL
		}
	}
	return write, noReply, ""
}

// topLevel yields the name and raw value of each top-level element of a BSON
// document, stopping at the first it cannot size.
func topLevel(doc []byte) func(yield func(string, []byte) bool) {
	return func(yield func(string, []byte) bool) {
		if len(doc) < 5 {
			return
		}
		end := int(binary.LittleEndian.Uint32(doc[0:4]))
		if end > len(doc) {
			return
		}
		pos := 4
		for pos < end-1 {
			kind := doc[pos]
			nameEnd := pos + 1
			for nameEnd < end && doc[nameEnd] != 0 {
				nameEnd++
			}
			if nameEnd >= end {
				return
			}
			name := string(doc[pos+1 : nameEnd])
			start := nameEnd + 1
			size := valueSize(kind, doc[start:end])
			if size < 0 || start+size > end {
				return
			}
			if !yield(name, doc[start:start+size]) {
				return
			}
			pos = start + size
		}
	}
}

// valueSize is the byte length of a BSON value of the given type, or -1.
func valueSize(kind byte, rest []byte) int {
	fixed := map[byte]int{0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}
	if n, ok := fixed[kind]; ok {
		return n
	}
	if len(rest) < 4 {
		return -1
	}
	n := int(binary.LittleEndian.Uint32(rest[0:4]))
	switch kind {
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol: int32 length, bytes, NUL
		return 4 + n
	case 0x03, 0x04: // document, array: the length includes itself
		return n
	case 0x05: // binary: int32 length, subtype, bytes
		return 4 + 1 + n
	}
	return -1
}
