// holdback board adapter: two-flop synchronizer for one level or toggle
// signal crossing into `clk`. ASYNC_REG keeps Vivado from packing the flops
// apart and tells timing analysis they are a synchronizer.
`default_nettype none
module sync_bit (
    input  wire clk,
    input  wire d_async,
    output wire q
);
    (* ASYNC_REG = "TRUE" *) reg meta = 1'b0;
    (* ASYNC_REG = "TRUE" *) reg stable = 1'b0;
    always @(posedge clk) begin
        meta <= d_async;
        stable <= meta;
    end
    assign q = stable;
endmodule
`default_nettype wire
