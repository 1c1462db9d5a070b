// Self-checking testbench of the KCU105 board adapters (rtl/), run by
// hdl/tests/board_kcu105.rs with `verilator --binary --timing`. Prints
// "PASS adapters" on success; any "FAIL" line fails the Rust test.
//
// Covers: the RX frame FIFO dropping a bad-FCS frame and an overflowing
// frame while passing good ones intact under output back-pressure; the TX
// FIFO never letting tvalid fall inside a frame; the AXI-Lite bridge across
// two unrelated clocks (write, read, core latency, timeout with SLVERR, fast
// failure while stale, recovery); the tick generator's exact rate.
`timescale 1ns/1ps
module adapters_tb;
    integer errors = 0;
    task fail(input [8*64-1:0] what); begin
        $display("FAIL %0s", what);
        errors = errors + 1;
    end endtask

    // ---------------------------------------------------------------- clocks
    reg clk = 1'b0;      // core clock, 156.25 MHz
    reg aclk = 1'b0;     // PCIe AXI clock, 250 MHz
    always #3.2 clk = !clk;
    always #2.0 aclk = !aclk;

    // ------------------------------------------------------- RX frame FIFO
    reg  [63:0] rx_d = 64'd0;
    reg  [7:0]  rx_k = 8'd0;
    reg         rx_l = 1'b0, rx_g = 1'b0, rx_v = 1'b0;
    wire        rx_rdy_unused;
    wire [63:0] rx_od;
    wire [7:0]  rx_ok;
    wire        rx_ol, rx_ov;
    reg         rx_ordy = 1'b0;
    wire [15:0] rx_dropped;
    // 16 beats: small enough to overflow in the test.
    frame_fifo #(.ADDR_W(4), .DROP_MODE(1)) rx (
        .clk(clk), .in_tdata(rx_d), .in_tkeep(rx_k), .in_tlast(rx_l), .in_tgood(rx_g),
        .in_tvalid(rx_v), .in_tready(rx_rdy_unused), .out_tdata(rx_od), .out_tkeep(rx_ok),
        .out_tlast(rx_ol), .out_tvalid(rx_ov), .out_tready(rx_ordy), .dropped(rx_dropped));

    // Beats are tagged {frame id, beat index}; the consumer checks the order.
    task rx_frame(input [7:0] id, input integer beats, input good); integer i; begin
        for (i = 0; i < beats; i = i + 1) begin
            @(negedge clk);
            rx_v = 1'b1; rx_d = {id, 24'd0, i[31:0]}; rx_l = (i == beats - 1);
            rx_k = (i == beats - 1) ? 8'h0F : 8'hFF; rx_g = good;
        end
        @(negedge clk); rx_v = 1'b0; rx_l = 1'b0;
    end endtask

    reg [7:0] expect_id [0:7];
    integer   expect_len [0:7];
    integer   n_expect = 0, got_frames = 0, got_beat = 0;
    always @(posedge clk) begin
        if (rx_ov && rx_ordy) begin
            if (got_frames >= n_expect) fail("RX FIFO delivered an unexpected frame");
            else begin
                if (rx_od[63:56] != expect_id[got_frames] || rx_od[31:0] != got_beat)
                    fail("RX FIFO beat out of order or from a dropped frame");
                if (rx_ol != (got_beat == expect_len[got_frames] - 1)) fail("RX FIFO tlast misplaced");
                if (rx_ok != (rx_ol ? 8'h0F : 8'hFF)) fail("RX FIFO tkeep corrupted");
            end
            if (rx_ol) begin got_frames = got_frames + 1; got_beat = 0; end
            else got_beat = got_beat + 1;
        end
    end
    // Output back-pressure: ready two cycles out of three.
    integer bp = 0;
    always @(negedge clk) begin bp = (bp + 1) % 3; rx_ordy = (bp != 0); end

    // ------------------------------------------------------- TX frame FIFO
    reg  [63:0] tx_d = 64'd0;
    reg         tx_l = 1'b0, tx_v = 1'b0;
    wire        tx_rdy;
    wire [63:0] tx_od;
    wire [7:0]  tx_ok;
    wire        tx_ol, tx_ov;
    wire [15:0] tx_dropped;
    frame_fifo #(.ADDR_W(9), .DROP_MODE(0)) tx (
        .clk(clk), .in_tdata(tx_d), .in_tkeep(8'hFF), .in_tlast(tx_l), .in_tgood(1'b1),
        .in_tvalid(tx_v), .in_tready(tx_rdy), .out_tdata(tx_od), .out_tkeep(tx_ok),
        .out_tlast(tx_ol), .out_tvalid(tx_ov), .out_tready(1'b1), .dropped(tx_dropped));
    reg tx_in_frame = 1'b0;
    integer tx_beats_out = 0;
    always @(posedge clk) begin
        if (tx_in_frame && !tx_ov) fail("TX FIFO let tvalid fall inside a frame (MAC underrun)");
        if (tx_ov) begin
            tx_beats_out = tx_beats_out + 1;
            tx_in_frame <= !tx_ol;
        end
    end

    // ------------------------------------------------------------ bridge
    reg  [19:0] awaddr = 20'd0, araddr = 20'd0;
    reg  [31:0] wdata = 32'd0;
    reg  [3:0]  wstrb = 4'hF;
    reg         awvalid = 1'b0, wvalid = 1'b0, arvalid = 1'b0;
    wire        awready, wready, arready, bvalid, rvalid;
    wire [1:0]  bresp, rresp;
    wire [31:0] rdata;
    wire        stale;
    wire [19:0] reg_addr;
    wire [31:0] reg_wdata;
    wire        reg_we, reg_re;
    reg  [31:0] reg_rdata = 32'd0;
    reg         reg_ack = 1'b0;
    reg         aresetn = 1'b0;
    axil_regbus_bridge #(.ADDR_BITS(20), .TIMEOUT_CYCLES(200)) br (
        .aclk(aclk), .aresetn(aresetn),
        .s_awaddr(awaddr), .s_awvalid(awvalid), .s_awready(awready),
        .s_wdata(wdata), .s_wstrb(wstrb), .s_wvalid(wvalid), .s_wready(wready),
        .s_bresp(bresp), .s_bvalid(bvalid), .s_bready(1'b1),
        .s_araddr(araddr), .s_arvalid(arvalid), .s_arready(arready),
        .s_rdata(rdata), .s_rresp(rresp), .s_rvalid(rvalid), .s_rready(1'b1),
        .core_stale(stale),
        .clk(clk), .reg_addr(reg_addr), .reg_wdata(reg_wdata), .reg_we(reg_we), .reg_re(reg_re),
        .reg_rdata(reg_rdata), .reg_ack(reg_ack));

    // A register file standing in for the core: answers after `latency`
    // cycles, checks the bus contract (one of re/we, stable while held, low
    // for a cycle between requests), can be told to go silent.
    reg [31:0] regfile [0:15];
    integer latency = 3, wait_n = 0, writes = 0;
    reg core_silent = 1'b0;
    reg prev_req = 1'b0;
    reg [19:0] held_addr = 20'd0;
    always @(posedge clk) begin
        reg_ack <= 1'b0;
        if (reg_re && reg_we) fail("bridge raised reg_re and reg_we together");
        if ((reg_re || reg_we) && prev_req && !reg_ack && reg_addr != held_addr) fail("bridge changed reg_addr while waiting");
        if ((reg_re || reg_we) && !prev_req) begin held_addr <= reg_addr; wait_n <= 0; end
        if ((reg_re || reg_we) && prev_req && reg_ack) fail("bridge kept re/we up the cycle after reg_ack");
        prev_req <= (reg_re || reg_we) && !reg_ack;
        if ((reg_re || reg_we) && !reg_ack && !core_silent) begin
            wait_n <= wait_n + 1;
            if (wait_n >= latency) begin
                reg_ack <= 1'b1;
                if (reg_we) begin regfile[reg_addr[5:2]] <= reg_wdata; writes = writes + 1; end
                reg_rdata <= regfile[reg_addr[5:2]];
                prev_req <= 1'b0;
            end
        end
    end

    task axi_write(input [19:0] a, input [31:0] d, output [1:0] resp); begin
        @(negedge aclk); awaddr = a; wdata = d; awvalid = 1'b1; wvalid = 1'b1;
        @(posedge aclk); while (!(awready && wready)) @(posedge aclk);
        @(negedge aclk); awvalid = 1'b0; wvalid = 1'b0;
        @(posedge aclk); while (!bvalid) @(posedge aclk);
        resp = bresp;
    end endtask
    task axi_read(input [19:0] a, output [31:0] d, output [1:0] resp); begin
        @(negedge aclk); araddr = a; arvalid = 1'b1;
        @(posedge aclk); while (!arready) @(posedge aclk);
        @(negedge aclk); arvalid = 1'b0;
        @(posedge aclk); while (!rvalid) @(posedge aclk);
        d = rdata; resp = rresp;
    end endtask

    // ------------------------------------------------------------- tick
    wire [15:0] tick_us;
    tick_us_gen #(.US_PER_CYCLE_NUM(4), .US_PER_CYCLE_DEN(625)) tick (.clk(clk), .tick_us(tick_us));
    integer tick_cycles = 0, ticks = 0;
    always @(posedge clk) begin
        if (tick_cycles < 6251) begin  // sample 0 is the initial value
            tick_cycles = tick_cycles + 1;
            if (tick_us > 1) fail("tick_us above 1");
            ticks = ticks + tick_us;
        end
    end

    // ------------------------------------------------------------ script
    reg [1:0] resp;
    reg [31:0] data;
    integer i, t0;
    initial begin
        // RX: good, bad (FCS), good, too big for the 16-beat FIFO, good.
        expect_id[0] = 8'hA1; expect_len[0] = 3;
        expect_id[1] = 8'hA3; expect_len[1] = 2;
        expect_id[2] = 8'hA5; expect_len[2] = 4;
        n_expect = 3;
        rx_frame(8'hA1, 3, 1'b1);
        rx_frame(8'hA2, 5, 1'b0);
        rx_frame(8'hA3, 2, 1'b1);
        rx_frame(8'hA4, 40, 1'b1);
        rx_frame(8'hA5, 4, 1'b1);

        // TX: a 6-beat frame pushed with gaps, then a 3-beat frame.
        for (i = 0; i < 6; i = i + 1) begin
            @(negedge clk); tx_v = 1'b1; tx_d = i; tx_l = (i == 5);
            @(negedge clk); tx_v = 1'b0;
        end
        for (i = 0; i < 3; i = i + 1) begin
            @(negedge clk); tx_v = 1'b1; tx_d = i; tx_l = (i == 2);
        end
        @(negedge clk); tx_v = 1'b0; tx_l = 1'b0;

        // Bridge.
        repeat (4) @(posedge aclk);
        aresetn = 1'b1;
        axi_write(20'h00010, 32'hDEAD_BEEF, resp);
        if (resp != 2'b00) fail("bridge write not OKAY");
        latency = 17;
        axi_read(20'h00010, data, resp);
        if (resp != 2'b00 || data != 32'hDEAD_BEEF) fail("bridge read returned wrong data");
        wstrb = 4'h3;
        axi_write(20'h00010, 32'h1111_1111, resp);
        if (resp != 2'b10) fail("partial-strobe write not refused with SLVERR");
        wstrb = 4'hF;
        axi_read(20'h00010, data, resp);
        if (data != 32'hDEAD_BEEF) fail("partial-strobe write reached the core");
        // The core goes silent: timeout, then fast failures, then recovery.
        core_silent = 1'b1;
        axi_read(20'h00014, data, resp);
        if (resp != 2'b10 || data != 32'hFFFF_FFFF) fail("timed-out read not SLVERR/0xFFFFFFFF");
        if (!stale) fail("bridge not stale after a timeout");
        t0 = $time;
        axi_write(20'h00018, 32'h2222_2222, resp);
        if (resp != 2'b10) fail("write while stale not refused");
        if ($time - t0 > 100) fail("write while stale waited for the core");
        core_silent = 1'b0;
        repeat (60) @(posedge aclk);
        if (stale) fail("bridge still stale after the late answer");
        axi_read(20'h00010, data, resp);
        if (resp != 2'b00 || data != 32'hDEAD_BEEF) fail("bridge did not recover after the stale answer");
        if (writes != 1) fail("core saw a different number of writes than accepted");

        repeat (6400) @(posedge clk);
        if (got_frames != 3) fail("RX FIFO did not deliver the three good frames");
        if (rx_dropped != 16'd2) fail("RX FIFO drop count is not 2 (bad FCS + overflow)");
        if (tx_beats_out != 9) fail("TX FIFO did not deliver all 9 beats");
        if (ticks != 40) fail("tick_us_gen: not 40 ticks in 6250 cycles of 156.25 MHz");
        if (errors == 0) $display("PASS adapters");
        $finish;
    end
    initial begin
        #200000;
        $display("FAIL testbench timed out");
        $finish;
    end
endmodule
