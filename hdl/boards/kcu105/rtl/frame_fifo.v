// holdback board adapter: store-and-forward frame FIFO for 64-bit AXI-Stream
// (tdata/tkeep/tlast), one clock domain, one beat per cycle in and out.
//
// Why it exists, in both directions between the core and the 10G MAC:
// - RX (DROP_MODE=1): the MAC's receive stream has no tready; a beat the core
//   cannot take at once would be lost mid-frame. This FIFO always accepts, and
//   drops a whole frame when it does not fit or when the MAC marks it bad
//   (tuser=0 on the last beat: FCS error, runt, ...), so the core only ever
//   sees complete good frames. Dropped frames are counted in `dropped`.
// - TX (DROP_MODE=0): the MAC aborts a frame if tvalid falls before tlast
//   (underrun). Frames are released to the MAC only once their last beat is
//   stored, so a frame leaves back-to-back; the input is back-pressured
//   (in_ready) instead of dropping. The core's frames (<= 2048 bytes = 256
//   beats) always fit in the default 512-beat memory.
//
// Words become visible to the reader only when their frame is committed
// (commit_ptr), so the reader never touches the entry being written.
`default_nettype none
module frame_fifo #(
    parameter integer ADDR_W = 9,     // 2^ADDR_W beats of 8 bytes (512: 4 KiB)
    parameter integer DROP_MODE = 0   // 1: never back-pressure, drop frames
) (
    input  wire        clk,
    input  wire [63:0] in_tdata,
    input  wire [7:0]  in_tkeep,
    input  wire        in_tlast,
    input  wire        in_tgood,      // sampled with the last beat; 0 drops the frame
    input  wire        in_tvalid,
    output wire        in_tready,
    output reg  [63:0] out_tdata,
    output reg  [7:0]  out_tkeep,
    output reg         out_tlast,
    output reg         out_tvalid,
    input  wire        out_tready,
    output reg  [15:0] dropped         // frames dropped (wraps)
);
    localparam integer DEPTH = 1 << ADDR_W;
    localparam [ADDR_W:0] DEPTH_P = DEPTH[ADDR_W:0];

    // One entry per beat: {tlast, tkeep, tdata}.
    reg [72:0] mem [0:DEPTH-1];

    // Pointers have one extra bit so that full and empty differ.
    reg [ADDR_W:0] wr_ptr = {(ADDR_W+1){1'b0}};      // next write (uncommitted frame)
    reg [ADDR_W:0] commit_ptr = {(ADDR_W+1){1'b0}};  // end of the last complete frame
    reg [ADDR_W:0] rd_ptr = {(ADDR_W+1){1'b0}};      // next read
    reg            dropping = 1'b0;                  // discarding the rest of a frame

    wire [ADDR_W:0] used = wr_ptr - rd_ptr;
    wire            full = (used == DEPTH_P);

    assign in_tready = (DROP_MODE != 0) ? 1'b1 : !full;
    wire accept = in_tvalid && in_tready;
    wire [ADDR_W:0] wr_next = wr_ptr + 1'b1;

    initial begin
        out_tdata = 64'd0;
        out_tkeep = 8'd0;
        out_tlast = 1'b0;
        out_tvalid = 1'b0;
        dropped = 16'd0;
    end

    // Write side.
    always @(posedge clk) begin
        if (accept) begin
            if (dropping) begin
                if (in_tlast) dropping <= 1'b0;
            end else if (full) begin
                // Only reachable in DROP_MODE: the frame does not fit.
                wr_ptr <= commit_ptr;
                dropping <= !in_tlast;
                dropped <= dropped + 16'd1;
            end else begin
                mem[wr_ptr[ADDR_W-1:0]] <= {in_tlast, in_tkeep, in_tdata};
                if (!in_tlast) begin
                    wr_ptr <= wr_next;
                end else if (in_tgood) begin
                    wr_ptr <= wr_next;
                    commit_ptr <= wr_next;
                end else begin
                    wr_ptr <= commit_ptr;
                    dropped <= dropped + 16'd1;
                end
            end
        end
    end

    // Read side: first-word-fall-through with a registered (block RAM) read.
    wire available = (rd_ptr != commit_ptr);
    wire load = available && (!out_tvalid || out_tready);
    always @(posedge clk) begin
        if (load) begin
            {out_tlast, out_tkeep, out_tdata} <= mem[rd_ptr[ADDR_W-1:0]];
            rd_ptr <= rd_ptr + 1'b1;
            out_tvalid <= 1'b1;
        end else if (out_tready) begin
            out_tvalid <= 1'b0;
        end
    end
endmodule
`default_nettype wire
