// holdback board adapter: the core's microsecond tick from its own clock.
//
// The core wants tick_us = "microseconds elapsed since the previous cycle".
// On hardware that is 1 on one cycle per microsecond and 0 otherwise. The
// 10G MAC's core clock is 156.25 MHz, i.e. 156.25 cycles per microsecond,
// which is not an integer, so a plain divider would drift by 0.16 %. A
// fractional accumulator adds US_PER_CYCLE_NUM each cycle and emits a tick
// whenever it reaches US_PER_CYCLE_DEN: exactly 4 ticks per 625 cycles at
// 156.25 MHz (4/625 us per cycle), no long-term drift, jitter < 1 cycle.
`default_nettype none
module tick_us_gen #(
    // Microseconds per clock cycle as a fraction NUM/DEN (156.25 MHz: 4/625).
    parameter integer US_PER_CYCLE_NUM = 4,
    parameter integer US_PER_CYCLE_DEN = 625
) (
    input  wire        clk,
    output reg  [15:0] tick_us
);
    // 10 bits hold any accumulator value below DEN + NUM for DEN <= 1000.
    localparam [9:0] NUM = US_PER_CYCLE_NUM[9:0];
    localparam [9:0] DEN = US_PER_CYCLE_DEN[9:0];

    reg [9:0] acc = 10'd0;
    wire [9:0] sum = acc + NUM;

    initial tick_us = 16'd0;
    always @(posedge clk) begin
        if (sum >= DEN) begin
            acc <= sum - DEN;
            tick_us <= 16'd1;
        end else begin
            acc <= sum;
            tick_us <= 16'd0;
        end
    end
endmodule
`default_nettype wire
