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

// writeLock is held from a write command's request until its reply.
var writeLock sync.Mutex

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
		write, noReply := classify(request)
		if write {
			writeLock.Lock()
		}
		err = relay(request, backend, client, noReply)
		if write {
			writeLock.Unlock()
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
// its body document names the command) and whether it expects no reply.
func classify(message []byte) (write, noReply bool) {
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) < headerLength+4+1+5+2 {
		return false, false
	}
	flags := binary.LittleEndian.Uint32(message[16:20])
	noReply = flags&moreToCome != 0
	// sections follow the flags; kind 0 is the body document
	pos := 20
	if message[pos] != 0 {
		return true, noReply // not the usual shape: be safe, serialise it
	}
	doc := message[pos+1:]
	// document: int32 length, then elements: type byte, cstring name, ...
	nameStart := 5
	nameEnd := nameStart
	for nameEnd < len(doc) && doc[nameEnd] != 0 {
		nameEnd++
	}
	if nameEnd >= len(doc) {
		return false, noReply
	}
	return writeCommands[string(doc[nameStart:nameEnd])], noReply
}
