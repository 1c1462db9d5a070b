// holdback board adapter: AXI4-Lite slave (the PCIe bridge's BAR master, on
// its own clock) -> holdback_core's register bus (on the core clock).
//
// Register bus contract (the core's, see hdl/src/core.rs): the host drives reg_addr/reg_wdata and
// exactly one of reg_re/reg_we, holds them until it samples reg_ack=1
// (reg_rdata valid in that cycle), then drops re/we for at least one cycle.
//
// Clock crossing: one request at a time with a toggle handshake. The AXI side
// latches address/data/direction, then flips req_toggle; the core side sees
// the flip through a two-flop synchronizer, runs the bus cycle, latches
// reg_rdata and flips ack_toggle back. The latched buses are stable for the
// whole crossing (they change only while no request is in flight), so only
// the toggles need synchronizers; the XDC bounds the data paths with
// set_max_delay -datapath_only. The round trip also guarantees re/we are low
// for at least one core cycle between requests.
//
// Robustness: if the core does not answer within TIMEOUT_CYCLES AXI clocks
// (its clock is the MAC's core clock, which stops without the SFP reference
// clock), the access completes with SLVERR and read data 0xFFFFFFFF so the
// host never sees a PCIe completion timeout. Until the late answer arrives
// (`stale`), further accesses complete the same way without reaching the core.
//
// Writes with byte strobes other than 4'hF are not forwarded (the core's
// registers are 32-bit only) and complete with SLVERR.
`default_nettype none
module axil_regbus_bridge #(
    parameter integer ADDR_BITS = 20,       // BAR size 2^ADDR_BITS bytes
    parameter integer TIMEOUT_CYCLES = 65535
) (
    // AXI4-Lite slave, clock domain aclk.
    input  wire                 aclk,
    input  wire                 aresetn,
    input  wire [ADDR_BITS-1:0] s_awaddr,     // BAR offset (upper AXI bits dropped by the top)
    input  wire                 s_awvalid,
    output reg                  s_awready,
    input  wire [31:0]          s_wdata,
    input  wire [3:0]           s_wstrb,
    input  wire                 s_wvalid,
    output reg                  s_wready,
    output reg  [1:0]           s_bresp,
    output reg                  s_bvalid,
    input  wire                 s_bready,
    input  wire [ADDR_BITS-1:0] s_araddr,
    input  wire                 s_arvalid,
    output reg                  s_arready,
    output reg  [31:0]          s_rdata,
    output reg  [1:0]           s_rresp,
    output reg                  s_rvalid,
    input  wire                 s_rready,
    output wire                 core_stale,   // the core missed a deadline (LED)
    // holdback_core register bus, clock domain clk.
    input  wire                 clk,
    output reg  [ADDR_BITS-1:0] reg_addr,
    output reg  [31:0]          reg_wdata,
    output reg                  reg_we,
    output reg                  reg_re,
    input  wire [31:0]          reg_rdata,
    input  wire                 reg_ack
);
    localparam [1:0] RESP_OKAY = 2'b00;
    localparam [1:0] RESP_SLVERR = 2'b10;

    // ---------------- AXI clock domain ----------------
    localparam [1:0] A_IDLE = 2'd0, A_WAIT = 2'd1, A_RESP = 2'd2;
    reg [1:0]           a_state = A_IDLE;
    reg                 a_is_write = 1'b0;
    reg                 a_fail = 1'b0;      // answer SLVERR without asking the core
    reg [ADDR_BITS-1:0] x_addr = {ADDR_BITS{1'b0}};   // crosses to clk (held)
    reg [31:0]          x_wdata = 32'd0;              // crosses to clk (held)
    reg                 x_we = 1'b0;                  // crosses to clk (held)
    reg                 req_toggle = 1'b0;            // crosses to clk
    reg                 stale = 1'b0;
    reg [31:0]          a_timer = 32'd0;
    wire                ack_seen;                     // ack_toggle in aclk
    reg [31:0]          x_rdata = 32'd0;              // crosses from clk (held)
    reg                 ack_toggle = 1'b0;            // crosses from clk

    sync_bit sync_ack (.clk(aclk), .d_async(ack_toggle), .q(ack_seen));
    wire answered = (ack_seen == req_toggle);
    wire timed_out = (a_timer >= TIMEOUT_CYCLES);

    assign core_stale = stale;

    always @(posedge aclk) begin
        if (!aresetn) begin
            a_state <= A_IDLE;
            s_awready <= 1'b0;
            s_wready <= 1'b0;
            s_arready <= 1'b0;
            s_bvalid <= 1'b0;
            s_rvalid <= 1'b0;
            s_bresp <= RESP_OKAY;
            s_rresp <= RESP_OKAY;
            s_rdata <= 32'd0;
            a_timer <= 32'd0;
            // req_toggle/stale keep their values: a request may still be
            // crossing, and its answer must be recognised as stale.
            if (!answered) stale <= 1'b1;
        end else begin
            s_awready <= 1'b0;
            s_wready <= 1'b0;
            s_arready <= 1'b0;
            if (stale && answered) stale <= 1'b0;
            case (a_state)
                A_IDLE: begin
                    if (s_awvalid && s_wvalid) begin
                        // Take address and data together (AXI lets a slave
                        // wait for both before raising either ready).
                        s_awready <= 1'b1;
                        s_wready <= 1'b1;
                        a_is_write <= 1'b1;
                        a_fail <= stale || s_wstrb != 4'hF;
                        if (!stale && s_wstrb == 4'hF) begin
                            x_addr <= s_awaddr;
                            x_wdata <= s_wdata;
                            x_we <= 1'b1;
                            req_toggle <= !req_toggle;
                        end
                        a_timer <= 32'd0;
                        a_state <= A_WAIT;
                    end else if (s_arvalid) begin
                        s_arready <= 1'b1;
                        a_is_write <= 1'b0;
                        a_fail <= stale;
                        if (!stale) begin
                            x_addr <= s_araddr;
                            x_we <= 1'b0;
                            req_toggle <= !req_toggle;
                        end
                        a_timer <= 32'd0;
                        a_state <= A_WAIT;
                    end
                end
                A_WAIT: begin
                    // Entered the cycle the address handshake completes, so
                    // a response raised here always follows it (AXI rule).
                    a_timer <= a_timer + 32'd1;
                    if (a_fail || answered || timed_out) begin
                        if (!a_fail && !answered) stale <= 1'b1;
                        if (a_is_write) begin
                            s_bresp <= (!a_fail && answered) ? RESP_OKAY : RESP_SLVERR;
                            s_bvalid <= 1'b1;
                        end else begin
                            s_rdata <= (!a_fail && answered) ? x_rdata : 32'hFFFF_FFFF;
                            s_rresp <= (!a_fail && answered) ? RESP_OKAY : RESP_SLVERR;
                            s_rvalid <= 1'b1;
                        end
                        a_state <= A_RESP;
                    end
                end
                default: begin // A_RESP
                    if (s_bvalid && s_bready) s_bvalid <= 1'b0;
                    if (s_rvalid && s_rready) s_rvalid <= 1'b0;
                    if ((s_bvalid && s_bready) || (s_rvalid && s_rready)) a_state <= A_IDLE;
                end
            endcase
        end
    end

    // ---------------- core clock domain ----------------
    wire req_seen;
    sync_bit sync_req (.clk(clk), .d_async(req_toggle), .q(req_seen));
    reg c_busy = 1'b0;

    initial begin
        reg_addr = {ADDR_BITS{1'b0}};
        reg_wdata = 32'd0;
        reg_we = 1'b0;
        reg_re = 1'b0;
    end

    always @(posedge clk) begin
        if (!c_busy) begin
            if (req_seen != ack_toggle) begin
                // x_* were latched before req_toggle flipped and stay put
                // until ack_toggle comes back: safe to sample now.
                reg_addr <= x_addr;
                reg_wdata <= x_wdata;
                reg_we <= x_we;
                reg_re <= !x_we;
                c_busy <= 1'b1;
            end
        end else if (reg_ack) begin
            x_rdata <= reg_rdata;
            reg_we <= 1'b0;
            reg_re <= 1'b0;
            ack_toggle <= !ack_toggle;
            c_busy <= 1'b0;
        end
    end
endmodule
`default_nettype wire
